"""``f2g serve reward``'s server: one registered reward, loaded once, answering JSON over HTTP on 127.0.0.1.

Built on the standard library's threaded HTTP server (one thread per connection; no new dependency in the
reward's environment, which may be an old one kept for a pinned library). The threads hand every batch to a
:class:`~f2g_core.hosting.SharedReward`, so the requests of several clients — the workers of an eval, several
runs — that wait while the model is busy are scored in one ``score_many`` call. It binds 127.0.0.1 only: the
protocol has no authentication, and it is meant for another environment on the same machine.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from f2g_core import __version__
from f2g_core.hosting import SharedReward
from f2g_core.interfaces import Reward
from f2g_core.serving.protocol import PROTOCOL, decode_batch, encode_scores

HOST = "127.0.0.1"
MAX_BODY = 2 * 1024**3
"""Largest request accepted (bytes): 20 candidates of 16 key frames at 480×832 fit with room to spare."""


class RewardServer:
    """Serves ``reward`` on ``port`` (0: any free port; :attr:`url` says which)."""

    def __init__(self, reward: Reward, port: int = 0, max_batch: int = 64) -> None:
        self.reward = reward
        self.shared = SharedReward(reward, max_batch)
        self.httpd = ThreadingHTTPServer((HOST, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.reward_server = self  # type: ignore[attr-defined]  # what the handler answers with
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.httpd.server_address[1]}"

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "protocol": PROTOCOL,
            "f2g": __version__,
            "reward": self.reward.name,
            "options": self.reward.options.model_dump(mode="json"),
            "python": sys.version.split()[0],
            "prefix": sys.prefix,
            "trace_info": dict(self.reward.trace_info()),
        }

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> RewardServer:
        """Serve from a background thread (tests, benchmarks); :meth:`close` stops it."""
        self._thread = threading.Thread(target=self.serve_forever, name="f2g-reward-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()
        self.shared.shutdown()

    def __enter__(self) -> RewardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    server_version = f"f2g-serve/{__version__}"
    protocol_version = "HTTP/1.1"

    @property
    def app(self) -> RewardServer:
        return self.server.reward_server  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would drown the server's own messages."""

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, allow_nan=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise _Refused(413, f"the request holds {length} bytes, over the server's {MAX_BODY}; send fewer frames")
        try:
            return json.loads(self.rfile.read(length))
        except ValueError as error:
            raise _Refused(400, f"the body is not JSON ({error})") from None

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/health", ""):
            self._answer(200, self.app.health())
        else:
            self._answer(404, {"error": f"no endpoint {self.path}: GET /health, POST /score, POST /check"})

    def do_POST(self) -> None:
        try:
            if self.path == "/score":
                self._score()
            elif self.path == "/check":
                self._check()
            else:
                self._answer(404, {"error": f"no endpoint {self.path}: GET /health, POST /score, POST /check"})
        except _Refused as refused:
            self._answer(refused.status, {"error": str(refused)})

    def _score(self) -> None:
        body = self._body()
        try:
            batch = decode_batch(body)
        except (ValueError, KeyError, TypeError) as error:
            raise _Refused(400, f"malformed batch: {type(error).__name__}: {error}") from None
        try:
            scores = self.app.shared.score(batch)
        except (Exception, SystemExit) as error:  # the reward's failure is this batch's, not the server's
            raise _Refused(500, f"reward {self.app.reward.name!r} failed: {type(error).__name__}: {error}") from None
        self._answer(200, {"scores": encode_scores(scores)})

    def _check(self) -> None:
        body = self._body()
        try:
            indices, frames = [int(i) for i in body["frame_indices"]], int(body["num_frames"])
        except (KeyError, TypeError, ValueError) as error:
            raise _Refused(400, f"malformed check: {type(error).__name__}: {error}") from None
        try:
            self.app.reward.check_key_frames(indices, frames)
        except ValueError as error:
            raise _Refused(422, str(error)) from None
        self._answer(200, {"ok": True})


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
