"""A fake OpenAI- and Anthropic-compatible LVLM server on 127.0.0.1, for tests and benchmarks.

The official ``openai`` and ``anthropic`` clients are built on ``httpx2``, which mocking libraries such as respx do
not intercept, so the honest way to test an LVLM reward is a real HTTP server the real client talks to. This one
runs the standard library's threaded HTTP server in a background thread and speaks just enough of both APIs:

* ``POST /v1/chat/completions`` (OpenAI chat completions, log-probabilities included when asked for),
* ``POST /v1/messages`` (Anthropic messages),
* ``GET /v1/models`` (what OpenAI-compatible servers such as vLLM list).

Every reply can be scripted: answers with chosen answer-token probabilities, a per-request latency, HTTP errors
with ``Retry-After``, garbage or malformed bodies, or delays longer than the client's timeout. The server counts
requests in flight (and the maximum seen) and keeps a log of every request, whose images can be decoded again —
so a test can assert that concurrency was bounded, that a cached run made no call, or what the model was shown.

Usage::

    with FakeLVLMServer(answer="Answer: 7") as server:
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="test")
        ...
        server.script(error_reply(429, retry_after=1), Answer("Answer: 3"))   # next two requests
        assert server.max_in_flight <= 4
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

__all__ = [
    "Answer",
    "FakeLVLMServer",
    "RecordedRequest",
    "Reply",
    "Responder",
    "error_reply",
    "tokenize",
]


@dataclass
class Answer:
    """A model answer, rendered in the dialect (OpenAI or Anthropic) of the request that receives it.

    ``probs`` are the probabilities of the alternatives at the answer token (e.g. ``{"7": 0.6, "8": 0.3}``);
    they become the ``top_logprobs`` of that token when the client asked for log-probabilities. Without them the
    answer token gets log-probability 0 and no alternatives.
    """

    text: str = "The frames match the prompt well.\nAnswer: 7"
    probs: Mapping[str, float] | None = None
    input_tokens: int = 120
    output_tokens: int = 16
    delay: float = 0.0
    """Extra seconds to wait before answering (on top of the server's latency)."""


@dataclass
class Reply:
    """A raw HTTP reply: for errors, garbage and malformed bodies.

    ``json`` is serialized as the body unless ``body`` (raw bytes) is given, which wins.
    """

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"


def error_reply(status: int, retry_after: float | str | None = None, message: str = "fake error") -> Reply:
    """An API error body both clients understand, optionally with a ``Retry-After`` header (seconds)."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = {"type": "error", "error": {"type": "fake_error", "message": message, "code": str(status)}}
    return Reply(status=status, json=body, headers=headers)


@dataclass
class RecordedRequest:
    """One request the server received (kept in :attr:`FakeLVLMServer.requests`)."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    json: Any
    received_at: float

    @property
    def api(self) -> str:
        """``"openai"``, ``"anthropic"`` or ``"other"``, from the path."""
        if self.path.endswith("/chat/completions"):
            return "openai"
        if self.path.endswith("/messages"):
            return "anthropic"
        return "other"

    @property
    def model(self) -> str:
        return str((self.json or {}).get("model", "")) if isinstance(self.json, dict) else ""

    def _content_parts(self) -> Iterator[dict[str, Any]]:
        body = self.json if isinstance(self.json, dict) else {}
        system = body.get("system")
        if isinstance(system, str):
            yield {"type": "text", "text": system}
        elif isinstance(system, list):
            yield from (p for p in system if isinstance(p, dict))
        for message in body.get("messages", []) or []:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                yield {"type": "text", "text": content}
            elif isinstance(content, list):
                yield from (p for p in content if isinstance(p, dict))

    def text(self) -> str:
        """All text of the request (system prompt and messages), joined by newlines."""
        return "\n".join(str(p.get("text", "")) for p in self._content_parts() if p.get("type") == "text")

    def images(self) -> list[Image.Image]:
        """The images of the request, decoded (OpenAI ``image_url`` data URLs or Anthropic base64 sources)."""
        images = []
        for part in self._content_parts():
            data: str | None = None
            if part.get("type") == "image_url":
                url = str((part.get("image_url") or {}).get("url", ""))
                if url.startswith("data:") and "," in url:
                    data = url.split(",", 1)[1]
            elif part.get("type") == "image":
                source = part.get("source") or {}
                if source.get("type") == "base64":
                    data = source.get("data")
            if data:
                images.append(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
        return images

    def prompt(self) -> str | None:
        """The video prompt quoted in the request (``Prompt: "..."`` as the built-in templates write it), if any."""
        match = re.search(r'Prompt:\s*"(.*)"', self.text())
        return match.group(1) if match else None


Responder = Callable[[RecordedRequest], "Answer | Reply | str"]
"""Decides the reply to a request that no scripted reply is queued for; a ``str`` is an answer text."""

_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")
_ANSWER_TOKEN = re.compile(r"^(?:[1-9]|yes|no)$", re.IGNORECASE)


def tokenize(text: str) -> list[str]:
    """Split text into word / punctuation tokens with leading spaces, like BPE vocabularies do (``" 7"``)."""
    return _TOKEN.findall(text)


def _logprob_content(text: str, probs: Mapping[str, float] | None) -> list[dict[str, Any]]:
    """OpenAI ``logprobs.content`` for ``text``: the last answer-like token carries the alternatives in ``probs``."""
    tokens = tokenize(text)
    answer_at = max((i for i, t in enumerate(tokens) if _ANSWER_TOKEN.match(t.strip())), default=-1)
    content = []
    for i, token in enumerate(tokens):
        top = [{"token": token, "logprob": 0.0, "bytes": list(token.encode())}]
        logprob = 0.0
        if i == answer_at and probs:
            lead = token[: len(token) - len(token.lstrip())]
            alternatives = sorted(probs.items(), key=lambda kv: -kv[1])
            top = [
                {
                    "token": lead + alt,
                    "logprob": math.log(p) if p > 0 else -9999.0,
                    "bytes": list((lead + alt).encode()),
                }
                for alt, p in alternatives
            ]
            chosen = probs.get(token.strip())
            logprob = math.log(chosen) if chosen else math.log(max(alternatives[0][1], 1e-300))
        content.append({"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": top})
    return content


class FakeLVLMServer:
    """OpenAI- and Anthropic-compatible test server on 127.0.0.1 (an ephemeral port unless ``port`` is given).

    Replies come, in order of precedence, from the queue filled by :meth:`script`, from the ``responder``
    callable, or from the default ``answer``. ``latency`` seconds are added to every request; ``logprobs=False``
    makes the server ignore requests for log-probabilities (like servers that do not support them).
    """

    def __init__(
        self,
        answer: Answer | str = "Answer: 7",
        *,
        latency: float = 0.0,
        logprobs: bool = True,
        responder: Responder | None = None,
        port: int = 0,
    ) -> None:
        self.default = Answer(answer) if isinstance(answer, str) else answer
        self.latency = latency
        self.logprobs = logprobs
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: deque[Answer | Reply | str] = deque()
        self._holds: deque[threading.Barrier] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeLVLMServer:
        """Bind and serve in a daemon thread; returns self."""
        server = self

        class Handler(_Handler):
            owner = server

        self._stopping.clear()
        self._httpd = _Server(("127.0.0.1", self._port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-lvlm-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests still sleeping are woken and answered at once."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLVLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the Anthropic client's ``base_url``)."""
        if self._httpd is None:
            raise RuntimeError("FakeLVLMServer is not running; call start() or use it as a context manager")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def openai_base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (the OpenAI client's ``base_url``)."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # ------------------------------------------------------------------ scripting

    def script(self, *replies: Answer | Reply | str) -> None:
        """Queue replies for the next requests, in order (any API); afterwards the responder / default answers."""
        with self._lock:
            self._queue.extend(replies)

    def hold(self, count: int, timeout: float = 30.0) -> None:
        """Answer none of the next ``count`` requests before all ``count`` are in flight at once.

        A test then proves overlap by counting, whatever the machine's load: concurrent clients get their answers,
        while a client that sends them one after another gets HTTP 503 ("hold timed out") after ``timeout`` s.
        """
        barrier = threading.Barrier(count, timeout=timeout)
        with self._lock:
            self._holds.extend([barrier] * count)

    def reset(self) -> None:
        """Forget the request log, counters, queued replies and holds."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self._holds.clear()
            self.max_in_flight = self.in_flight

    @property
    def request_count(self) -> int:
        """Requests to the chat-completions and messages endpoints (model listings excluded)."""
        with self._lock:
            return sum(1 for r in self.requests if r.api != "other")

    # ------------------------------------------------------------------ internals

    def _next_reply(self, request: RecordedRequest) -> Answer | Reply | str:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(request)
        return self.default

    def _render(self, request: RecordedRequest, reply: Answer | Reply | str) -> Reply:
        answer = Answer(reply) if isinstance(reply, str) else reply
        if isinstance(answer, Reply):
            return answer
        body = request.json if isinstance(request.json, dict) else {}
        model = str(body.get("model", "fake-model"))
        if request.api == "anthropic":
            payload: dict[str, Any] = {
                "id": f"msg_fake_{len(self.requests)}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": answer.text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
            }
        else:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": "stop",
                "logprobs": None,
            }
            if self.logprobs and body.get("logprobs"):
                choice["logprobs"] = {"content": _logprob_content(answer.text, answer.probs)}
            payload = {
                "id": f"chatcmpl-fake-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [choice],
                "usage": {
                    "prompt_tokens": answer.input_tokens,
                    "completion_tokens": answer.output_tokens,
                    "total_tokens": answer.input_tokens + answer.output_tokens,
                },
            }
        return Reply(status=200, json=payload, delay=answer.delay)

    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        request = RecordedRequest(
            method=handler.command,
            path=handler.path.split("?", 1)[0],
            headers={k.lower(): v for k, v in handler.headers.items()},
            raw=raw,
            json=parsed,
            received_at=time.monotonic(),
        )
        counted = request.api != "other"  # model listings and the stats endpoint are not LVLM calls
        with self._lock:
            self.requests.append(request)
            if counted:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            hold = self._holds.popleft() if counted and self._holds else None
        try:
            if request.api == "other":
                if request.path == "/_fake/stats":
                    with self._lock:
                        stats = {"requests": sum(1 for r in self.requests if r.api != "other")}
                        stats.update(in_flight=self.in_flight, max_in_flight=self.max_in_flight)
                    reply = Reply(json=stats)
                elif request.path == "/_fake/reset":
                    self.reset()
                    reply = Reply(json={"reset": True})
                elif request.path.endswith("/models"):
                    reply = Reply(json={"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
                else:
                    reply = error_reply(404, message=f"no route {request.path}")
            elif hold is not None and not _passes(hold):
                reply = error_reply(503, message="hold timed out: the held requests never were in flight together")
            else:
                reply = self._render(request, self._next_reply(request))
            wait = self.latency + reply.delay
            if wait > 0:
                self._stopping.wait(wait)
            if counted:  # no longer in flight once the reply is ready (the client may see it before `finally`)
                counted = False
                with self._lock:
                    self.in_flight -= 1
            payload = reply.body if reply.body is not None else json.dumps(reply.json).encode()
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(payload)))
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout) — that is the point of slow replies
        finally:
            if counted:
                with self._lock:
                    self.in_flight -= 1


def _passes(barrier: threading.Barrier) -> bool:
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        return False
    return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 makes concurrent connects wait for a SYN retry (1 s)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeLVLMServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real API servers do
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, 40 ms delayed-ACK stalls
    timeout = 10  # idle keep-alive connections are closed after this many seconds

    def do_POST(self) -> None:
        self.owner._handle(self)

    def do_GET(self) -> None:
        self.owner._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log (tests read :attr:`FakeLVLMServer.requests` instead)."""


def main(argv: list[str] | None = None) -> None:
    """Run the server in the foreground: ``python -m f2g_lvlm.fake_server --latency 0.3 --answer "Answer: 7"``.

    Prints ``listening on URL`` once ready. ``GET /_fake/stats`` returns the request count and the maximum of
    requests in flight; ``POST /_fake/reset`` clears them. A separate process keeps the server's work off the
    client's interpreter (benchmarks), as with a real remote API.
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--answer", default="The frames match the prompt.\nAnswer: 7")
    parser.add_argument("--no-logprobs", action="store_true", help="never return log-probabilities")
    args = parser.parse_args(argv)
    server = FakeLVLMServer(Answer(args.answer), latency=args.latency, logprobs=not args.no_logprobs, port=args.port)
    server.start()
    print(f"listening on {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
