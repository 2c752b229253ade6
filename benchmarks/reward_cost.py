"""What a reward costs, and what sharing one loaded copy among eval workers saves.

For each registered reward that builds a tiny model offline (options ``model: tiny``; rewards that need published
weights or an API are listed as skipped), on the CPU:

* seconds per scored candidate at batch 1, 5 and 20 (a batch = one prompt's candidates, 4 key frames of 64×64);
* 4 workers (threads) scoring batches of 5 candidates, with one shared copy (:class:`~f2g_core.hosting.SharedReward`,
  what ``f2g eval`` does by default) versus one copy per worker (``--private-models``): resident memory after
  loading (RSS, and its peak) and throughput (candidates per second).

* with ``--ray``: the same under Ray — 4 sampling actors scoring through one host actor (what
  ``f2g eval --engine ray --host ID`` runs: :class:`~f2g_eval.engines.ray_hosts.HostActor` serving
  :class:`~f2g_eval.engines.ray_hosts.HostedReward` stand-ins) versus 4 actors each loading its own copy: the
  resident memory of every actor process (``/proc/PID/status``: VmRSS, and VmHWM for the peak) after loading,
  and throughput. Every sampling actor imports torch either way (its backbone would), so the difference is the
  reward's own memory.

Each measurement runs in a fresh process (``--child``), so the RSS is that configuration's alone. ``ballast`` is a
synthetic reward holding 256 MB of float32 weights (one matrix product per candidate): the tiny models are a few
megabytes, below the noise of a process's RSS, so ballast shows the memory effect at a size where it is visible.

    python benchmarks/reward_cost.py [--rewards videoreward,checklist] [--workers 4] [--rounds 6] [--ray]

Prints one table per part; ``--json FILE`` also writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from f2g_core.hosting import SharedReward
from f2g_core.interfaces import AsyncReward, Reward, RewardBatch, StepInfo

TINY = ({"model": "tiny", "device": "cpu"}, {"model": "tiny"})
"""Options tried, in order, to build a reward's tiny model."""
FRAMES = (0, 5, 10, 15)
NUM_FRAMES, SIZE, FPS = 16, 64, 8.0
BATCHES = (1, 5, 20)


class Ballast(Reward):
    """Synthetic: 256 MB of float32 weights; the score is a matrix product of the mean frame with them."""

    name = "ballast"

    def load(self) -> None:
        import torch

        generator = torch.Generator().manual_seed(0)
        self.weights = torch.randn(8192, 8192, generator=generator).div_(8192.0)

    def score(self, batch: RewardBatch) -> list[float]:
        import torch

        x = torch.from_numpy(batch.frames.mean(axis=(1, 4)).reshape(len(batch), -1)[:, :8192].copy())
        x = torch.nn.functional.pad(x, (0, 8192 - x.shape[1]))
        return [float(v) for v in (x @ self.weights).sum(dim=1)]


def build(reward_id: str) -> Reward:
    """The tiny model of ``reward_id`` (``ValueError`` saying why there is none)."""
    if reward_id == "ballast":
        return Ballast()
    from f2g_core.errors import ConfigError
    from f2g_core.plugins import default_plugins

    registry = default_plugins().registry
    cls = registry.get("reward", reward_id).cls
    if issubclass(cls, AsyncReward) or reward_id == "remote":
        raise ValueError("a client of a remote service: no model to host")
    if "model" not in cls.Options.model_fields:
        raise ValueError("no model option")
    problems = []
    for options in TINY:
        try:
            reward = registry.build("reward", reward_id, options, "bench")
        except ConfigError as error:
            problems.append(str(error).splitlines()[0])
            continue
        assert isinstance(reward, Reward)
        return reward
    raise ValueError(f"no 'model: tiny' ({problems[-1][:90]})")


def make_batch(count: int, seed: int = 0) -> RewardBatch:
    frames = np.random.default_rng(seed).random((count, len(FRAMES), SIZE, SIZE, 3), dtype=np.float32)
    return RewardBatch("a red circle moving left", frames, FRAMES, NUM_FRAMES, StepInfo(0, 20, 900.0), fps=FPS)


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def latency(reward_id: str, repeats: int) -> dict[str, Any]:
    """Seconds per candidate at each batch size (best of ``repeats``), and the load's cost."""
    before = rss_mb()
    reward = build(reward_id)
    start = time.perf_counter()
    reward.load()
    loaded = time.perf_counter() - start
    reward.check_key_frames(FRAMES, NUM_FRAMES)
    reward.score(make_batch(1))  # warm-up (first-call allocations, lazy imports)
    per_candidate = {}
    for size in BATCHES:
        batch = make_batch(size)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            reward.score(batch)
            best = min(best, time.perf_counter() - start)
        per_candidate[str(size)] = best / size
    return {"load_s": loaded, "model_mb": rss_mb() - before, "s_per_candidate": per_candidate}


def workers(reward_id: str, mode: str, count: int, rounds: int) -> dict[str, Any]:
    """``count`` threads, each scoring ``rounds`` batches of 5, sharing one copy or each holding its own."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // count))
    base = rss_mb()
    if mode == "shared":
        shared = SharedReward(build(reward_id))
        shared.load()
        rewards: list[Reward] = [shared] * count
    else:
        rewards = [build(reward_id) for _ in range(count)]
        for reward in rewards:
            reward.load()
    loaded = rss_mb()
    batches = [make_batch(5, seed) for seed in range(rounds)]
    for reward in set(rewards):
        reward.score(batches[0])  # warm-up
    errors: list[BaseException] = []

    def work(reward: Reward) -> None:
        try:
            for batch in batches:
                reward.score(batch)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(reward,)) for reward in rewards]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    out = {
        "rss_base_mb": base,
        "rss_loaded_mb": loaded,
        "rss_peak_mb": peak_mb(),
        "candidates_per_s": count * rounds * 5 / seconds,
    }
    if mode == "shared":
        out["calls"], out["largest_batch"] = shared.host.calls, shared.host.largest_batch
        shared.shutdown()
    return out


def tiny_spec(reward_id: str) -> dict[str, Any]:
    """``{type, options}`` of the reward's tiny model, as ``hosted_components`` hands a host actor its reward."""
    reward = build(reward_id)
    return {"type": reward.name, "options": reward.options.model_dump(mode="json")}


def process_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) memory of process ``pid`` in MB (Linux /proc: VmRSS, VmHWM)."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024.0
    return values["VmRSS"], values["VmHWM"]


class SamplingActor:
    """Stands for one sampling actor of the Ray engine: scores batches with its reward, hosted or its own."""

    def __init__(self, reward_id: str, handles: list[Any]) -> None:
        import torch
        from f2g_eval.engines.ray_hosts import HostedReward

        torch.set_num_threads(1)  # each actor holds torch, as its backbone would, hosted reward or not
        reward = build(reward_id)  # unloaded: a stand-in only checks key frames with it
        self.reward = HostedReward(reward, handles) if handles else reward

    def load(self) -> int:
        self.reward.load()
        self.reward.check_key_frames(FRAMES, NUM_FRAMES)
        self.reward.score(make_batch(1))  # warm-up
        return os.getpid()

    def work(self, rounds: int) -> None:
        for seed in range(rounds):
            self.reward.score(make_batch(5, seed))


def ray_hosts(reward_id: str, mode: str, count: int, rounds: int) -> dict[str, Any]:
    """``count`` Ray actors scoring ``rounds`` batches of 5 each, through one host actor (``ray-shared``) or each
    with its own copy (``ray-private``): every actor process's RSS after loading and at the end, and throughput."""
    import ray
    from f2g_eval.engines.ray_hosts import HostActor

    class Host(HostActor):
        """The eval's host actor, with ``ballast`` (this script's) registered in its process."""

        def __init__(self, kind: str, spec: dict[str, Any], max_batch: int) -> None:
            from f2g_core.plugins import default_plugins

            registry = default_plugins().registry
            if "ballast" not in registry.names("reward"):
                registry.add("reward", Ballast, "benchmark")
            super().__init__(kind, spec, max_batch)

    ray.init(
        address="local", num_cpus=count + 1, include_dashboard=False, log_to_driver=False,
        object_store_memory=100 * 1024 * 1024,
    )  # fmt: skip
    try:
        handles = []
        if mode == "ray-shared":  # threaded, as the engine makes it: waiting calls meet on the batching host
            remote_host = ray.remote(Host).options(num_cpus=1, max_concurrency=max(2, count))
            handles = [remote_host.remote("reward", tiny_spec(reward_id), 64)]
        actors = [ray.remote(SamplingActor).options(num_cpus=1).remote(reward_id, handles) for _ in range(count)]
        pids = ray.get([actor.load.remote() for actor in actors])
        host_pid = ray.get(handles[0].stats.remote())["pid"] if handles else None
        loaded = {pid: process_mb(pid)[0] for pid in [*pids, *([host_pid] if host_pid else [])]}
        start = time.perf_counter()
        ray.get([actor.work.remote(rounds) for actor in actors])
        seconds = time.perf_counter() - start
        end = {pid: process_mb(pid) for pid in loaded}
        out: dict[str, Any] = {
            "actors_rss_loaded_mb": [loaded[pid] for pid in pids],
            "actors_rss_peak_mb": [end[pid][1] for pid in pids],
            "candidates_per_s": count * rounds * 5 / seconds,
        }
        if host_pid:
            stats = ray.get(handles[0].stats.remote())
            out["host_rss_loaded_mb"], out["host_rss_peak_mb"] = loaded[host_pid], end[host_pid][1]
            out["callers"], out["calls"], out["largest_batch"] = (
                len(stats["callers"]),
                stats["calls"],
                stats["largest_batch"],
            )
        out["total_rss_loaded_mb"] = sum(loaded.values())
        return out
    finally:
        ray.shutdown()


def child(args: argparse.Namespace) -> None:
    try:
        if args.child == "latency":
            result = latency(args.reward, args.repeats)
        elif args.child.startswith("ray-"):
            result = ray_hosts(args.reward, args.child, args.workers, args.rounds)
        else:
            result = workers(args.reward, args.child, args.workers, args.rounds)
    except Exception as error:
        result = {"error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:200]}
    print(json.dumps(result))


def run_child(reward_id: str, part: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--child", part, "--reward", reward_id, "--workers", str(args.workers),
        "--rounds", str(args.rounds), "--repeats", str(args.repeats),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"}
    return dict(json.loads(lines[-1]))


def candidates(names: str | None) -> list[str]:
    if names:
        return [n.strip() for n in names.split(",") if n.strip()]
    from f2g_core.plugins import default_plugins

    return [*default_plugins().registry.names("reward"), "ballast"]


def paired(figures: dict[str, Any], shared: str, private: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Each reward's figures with a shared copy and with private ones; a line saying why where either failed."""
    for reward_id, f in figures.items():
        sh, pr = f[shared], f[private]
        if "error" in sh or "error" in pr:
            print(f"{reward_id:<18} failed: {sh.get('error') or pr.get('error')}")
            continue
        yield reward_id, sh, pr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rewards", help="Comma-separated reward ids (default: every registered one, and ballast).")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6, help="Batches of 5 each worker scores.")
    parser.add_argument("--repeats", type=int, default=3, help="Timings per batch size (the best is kept).")
    parser.add_argument("--ray", action="store_true", help="Also measure a Ray host actor vs private actor copies.")
    parser.add_argument("--json", help="Also write every figure to this file.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--reward", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    figures: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for reward_id in candidates(args.rewards):
        if reward_id != "ballast":
            try:
                build(reward_id)
            except (ValueError, Exception) as why:
                skipped[reward_id] = str(why)
                continue
        cost = run_child(reward_id, "latency", args)
        if "error" in cost:
            skipped[reward_id] = cost["error"]
            continue
        modes = ("shared", "private", *(("ray-shared", "ray-private") if args.ray else ()))
        figures[reward_id] = {"latency": cost, **{m: run_child(reward_id, m, args) for m in modes}}
    print(f"CPU: {os.cpu_count()} cores, torch threads split among {args.workers} workers; frames 4×{SIZE}×{SIZE}")
    print("\nseconds per scored candidate (best of", args.repeats, "timings)")
    print(f"{'reward':<18}{'load s':>8}{'model MB':>10}" + "".join(f"{'batch ' + str(b):>10}" for b in BATCHES))
    for reward_id, f in figures.items():
        lat = f["latency"]
        cells = "".join(f"{lat['s_per_candidate'][str(b)]:>10.4f}" for b in BATCHES)
        print(f"{reward_id:<18}{lat['load_s']:>8.2f}{lat['model_mb']:>10.0f}{cells}")
    print(f"\n{args.workers} workers scoring batches of 5: one shared copy vs one copy per worker")
    print(
        f"{'reward':<18}{'RSS shared':>11}{'RSS private':>12}{'peak sh.':>10}{'peak pr.':>10}"
        f"{'cand/s sh.':>12}{'cand/s pr.':>12}{'largest batch':>14}"
    )
    for reward_id, sh, pr in paired(figures, "shared", "private"):
        print(
            f"{reward_id:<18}{sh['rss_loaded_mb']:>9.0f}MB{pr['rss_loaded_mb']:>10.0f}MB{sh['rss_peak_mb']:>8.0f}MB"
            f"{pr['rss_peak_mb']:>8.0f}MB{sh['candidates_per_s']:>12.1f}{pr['candidates_per_s']:>12.1f}"
            f"{sh['largest_batch']:>14}"
        )
    if args.ray:
        print(f"\nRay: {args.workers} sampling actors scoring batches of 5: one host actor vs one copy per actor")
        print(
            f"{'reward':<18}{'host RSS':>10}{'actors RSS, hosted':>20}{'actors RSS, private':>21}"
            f"{'total hosted':>14}{'total private':>15}{'cand/s h.':>11}{'cand/s p.':>11}{'callers':>9}"
        )
        for reward_id, sh, pr in paired(figures, "ray-shared", "ray-private"):
            print(
                f"{reward_id:<18}{sh['host_rss_loaded_mb']:>8.0f}MB{sum(sh['actors_rss_loaded_mb']):>18.0f}MB"
                f"{sum(pr['actors_rss_loaded_mb']):>19.0f}MB{sh['total_rss_loaded_mb']:>12.0f}MB"
                f"{pr['total_rss_loaded_mb']:>13.0f}MB{sh['candidates_per_s']:>11.1f}{pr['candidates_per_s']:>11.1f}"
                f"{sh['callers']:>9}"
            )
    if skipped:
        print("\nskipped (no tiny model offline):")
        for reward_id, why in skipped.items():
            print(f"  {reward_id}: {why}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"figures": figures, "skipped": skipped, "cpus": os.cpu_count()}, handle, indent=2)


if __name__ == "__main__":
    main()
