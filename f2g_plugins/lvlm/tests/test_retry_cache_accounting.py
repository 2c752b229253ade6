"""Retry-After parsing, the answer cache under concurrent writers, prices and the budget."""

import email.utils
import json
import multiprocessing
import threading
import time

import pytest
from f2g_lvlm.accounting import CURRENT_RUN, Budget, Ledger, Price, PriceTable, nanmean
from f2g_lvlm.cache import AnswerCache, cache_key, default_cache_dir
from f2g_lvlm.retry import Failure, RetryPolicy, classify_status, retry_after_seconds

from f2g_core.errors import BudgetExceeded


def test_retry_after_forms():
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": "0.25"}) == 0.25
    assert retry_after_seconds({"retry-after-ms": "150", "retry-after": "9"}) == 0.15
    date = email.utils.formatdate(1000.0 + 20, usegmt=True)
    assert retry_after_seconds({"Retry-After": date}, now=1000.0) == pytest.approx(20, abs=1)
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_status_classes():
    assert classify_status(429) is Failure.TRANSIENT and classify_status(503) is Failure.TRANSIENT
    assert classify_status(401) is Failure.FATAL and classify_status(404) is Failure.FATAL
    assert classify_status(400) is Failure.PERMANENT


class _Err(Exception):
    def __init__(self, headers):
        super().__init__("x")
        self.response = type("R", (), {"headers": headers})()


async def test_policy_honours_retry_after_and_caps_it():
    calls = []
    waits = []

    async def run(policy, headers):
        async for attempt in policy.retrying(lambda e: True, lambda state: waits.append(state.next_action.sleep)):
            with attempt:
                calls.append(time.monotonic())
                if len(calls) % 2 == 1:
                    raise _Err(headers)

    policy = RetryPolicy(max_retries=1, initial=0.0, jitter=0.0, max_retry_after=0.2)
    await run(policy, {"Retry-After": "0.1"})
    assert calls[1] - calls[0] >= 0.09
    await run(policy, {"Retry-After": "50"})
    assert waits == [0.1, 0.2]  # the server's wait, capped at max_retry_after
    assert calls[3] - calls[2] >= 0.18


def _writer(root, key, n):
    cache = AnswerCache(root)
    for i in range(n):
        cache.put(key, {"score": float(i), "pad": "x" * 20000})


def test_cache_round_trip_and_concurrent_writers(tmp_path):
    cache = AnswerCache(tmp_path)
    key = cache_key({"provider": "p", "prompt": "a", "sample": 0})
    assert cache.get(key) is None and key not in cache
    cache.put(key, {"score": 7.0})
    assert cache.get(key) == {"score": 7.0} and key in cache
    # Several processes and threads rewriting one entry: every read sees a whole JSON document.
    processes = [
        multiprocessing.get_context("spawn").Process(target=_writer, args=(tmp_path, key, 30)) for _ in range(2)
    ]
    threads = [threading.Thread(target=_writer, args=(tmp_path, key, 30)) for _ in range(2)]
    for worker in [*processes, *threads]:
        worker.start()
    reads = 0
    while any(p.is_alive() for p in processes) or any(t.is_alive() for t in threads):
        value = cache.get(key)
        # whole documents only: the first one until a writer replaces it, then the writers' (never a torn one)
        assert value == {"score": 7.0} or (value is not None and len(value["pad"]) == 20000), value
        reads += 1
    for worker in [*processes, *threads]:
        worker.join()
    assert reads > 0
    assert not list(tmp_path.glob("*/.tmp-*"))  # no temporary files left behind
    assert cache.clear() == 1


def test_damaged_entry_is_a_miss(tmp_path):
    cache = AnswerCache(tmp_path)
    key = cache_key({"a": 1})
    cache.put(key, {"score": 1.0})
    next(tmp_path.glob("*/*.json")).write_text("{truncated")
    assert cache.get(key) is None


def test_cache_key_is_canonical():
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_default_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("F2G_LVLM_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path


def test_price_table_prefixes_and_overrides(caplog):
    table = PriceTable({"my-local": Price(input=1.0, output=2.0), "gpt-4o": Price(input=5.0, output=5.0)})
    assert table.price("gpt-4o-mini-2024-07-18") == Price(input=0.15, output=0.60)
    assert table.cost("gpt-4o-2024-08-06", 1_000_000, 0) == 5.0  # override wins
    assert table.cost("my-local", 1_000_000, 1_000_000) == 3.0
    assert table.cost("claude-3-5-haiku-20241022", 1_000_000, 0) == pytest.approx(0.8)
    assert table.cost("unknown", 10, 10) == 0.0 and table.cost("unknown", 10, 10) == 0.0
    assert caplog.text.count("no price known") == 1


def test_budget():
    ledger = Ledger()
    budget = Budget(ledger, max_cost_usd=1.0, max_calls=10)
    assert budget.allows(10) and not budget.allows(11)
    ledger.add(calls=4, cost_usd=0.8)  # 0.2 per call
    assert budget.allows(1) and not budget.allows(2)
    with pytest.raises(BudgetExceeded, match=r"max_cost_usd=1"):
        budget.check(2, "test reward")
    assert ledger.total.budget_stops == 1 and not budget.allows(0)
    json.dumps(ledger.total.as_dict())


def test_budget_is_kept_per_video_run_of_the_calling_context():
    ledger = Ledger()
    budget = Budget(ledger, max_calls=3, max_total_calls=5)

    def spend(run: int, calls: int) -> bool:
        token = CURRENT_RUN.set(run)
        try:
            if not budget.allows(calls):
                return False
            ledger.add(calls=calls)
            return True
        finally:
            CURRENT_RUN.reset(token)

    assert spend(1, 3) and not spend(1, 1)  # run 1 has spent its 3
    assert spend(2, 2)  # run 2 has its own 3, but only 2 of the 5 in all are left
    assert not spend(3, 1)  # 5 of max_total_calls=5 made
    assert (ledger.run(1).calls, ledger.run(2).calls, ledger.total.calls) == (3, 2, 5)


def test_a_reservation_counts_only_its_calls_not_made_yet():
    """A step reserves its calls so videos checked at the same time see each other's; once a reserved call is
    made it is counted in the ledger alone, so a parse retry that fits the total budget is not refused."""
    ledger = Ledger()
    budget = Budget(ledger, max_total_calls=6)
    token = CURRENT_RUN.set(1)
    try:
        budget.check(5, "test reward")  # run 1's step: 5 candidates
        assert budget.allows(1) and not budget.allows(2)  # nothing made yet: 5 reserved + 1 fit
        ledger.add(calls=2)
    finally:
        CURRENT_RUN.reset(token)
    token = CURRENT_RUN.set(2)
    try:
        assert budget.allows(1) and not budget.allows(2)  # run 1: 2 made + 3 still reserved
    finally:
        CURRENT_RUN.reset(token)
    token = CURRENT_RUN.set(1)
    try:
        ledger.add(calls=3)
        assert budget.allows(1) and not budget.allows(2)  # all 5 made: a retry fits, counted once
        budget.release()
        assert budget.allows(1) and not budget.allows(2)
    finally:
        CURRENT_RUN.reset(token)


def test_a_parse_retry_is_reserved_like_the_step_calls():
    """A retry made while some of the step's reserved calls are not made yet adds to the reservation: the other
    runs still see every call that is coming, so together they never overshoot the total budget."""
    ledger = Ledger()
    budget = Budget(ledger, max_total_calls=6)
    token = CURRENT_RUN.set(1)
    try:
        budget.check(5, "test reward")
        ledger.add(calls=1)  # the first answer did not parse
        assert budget.reserve(1)  # its retry fits: 1 made + 4 reserved + 1
        ledger.add(calls=1)
        assert not budget.reserve(1)  # 2 made + 4 still to come: a second retry would make 7
    finally:
        CURRENT_RUN.reset(token)
    token = CURRENT_RUN.set(2)
    try:
        assert not budget.allows(1)
    finally:
        CURRENT_RUN.reset(token)


def test_nanmean():
    assert nanmean([1.0, float("nan"), 3.0]) == 2.0
    assert nanmean([float("nan")]) != nanmean([float("nan")])  # NaN
