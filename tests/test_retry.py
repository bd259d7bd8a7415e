"""vidpipe.retry: the one retry policy (statuses, Retry-After, full-jitter backoff) and
the one rate limiter, shared by the LLM, vision, image and download clients."""

from __future__ import annotations

import random
import threading

import httpx
import pytest

from vidpipe.errors import UsageError
from vidpipe.retry import RateLimiter, RetryPolicy, retry_after, retry_after_value, retryable_status


def test_retryable_statuses():
    assert [s for s in (400, 401, 403, 404, 413, 422) if retryable_status(s)] == []
    assert all(retryable_status(s) for s in (408, 409, 425, 429, 500, 502, 503, 504, 599))
    assert not retryable_status(501) and not retryable_status(505)  # they do not go away
    assert not retryable_status(200) and not retryable_status(600)


def test_retry_after_value_seconds_and_dates():
    assert retry_after_value("3") == 3.0 and retry_after_value(" 1.5 ") == 1.5
    assert retry_after_value(None) is None and retry_after_value("soon") is None
    assert retry_after_value("") is None and retry_after_value("-4") == 0.0
    now = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
    assert retry_after_value("Tue, 14 Nov 2023 22:13:30 GMT", now=now) == pytest.approx(10.0)
    assert retry_after_value("Tue, 14 Nov 2023 22:13:00 GMT", now=now) == 0.0  # in the past


def test_retry_after_reads_real_response_headers():
    h = httpx.Response(429, headers={"Retry-After": "7"}).headers
    assert retry_after(h) == 7.0
    both = httpx.Response(429, headers={"retry-after-ms": "250", "Retry-After": "7"}).headers
    assert retry_after(both) == 0.25  # the finer one wins
    assert retry_after({"Retry-After": "2"}) == 2.0 and retry_after({"retry-after": "2"}) == 2.0
    assert retry_after(httpx.Response(503).headers) is None and retry_after(None) is None
    assert retry_after({"retry-after-ms": "x", "retry-after": "4"}) == 4.0


def test_policy_delays_full_jitter_and_caps():
    policy = RetryPolicy(max_retries=6, backoff=0.5, max_backoff=4.0, max_retry_after=30.0)
    assert policy.attempts == 7
    random.seed(7)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]:
        waits = [policy.delay(retry) for _ in range(300)]
        assert all(0 <= w <= ceiling for w in waits), retry
        assert max(waits) > 0.8 * ceiling  # spread over the whole range, not a constant
    assert policy.delay(2, retry_after=12.0) == 12.0
    assert policy.delay(2, retry_after=600.0) == 30.0  # a long Retry-After is cut
    with pytest.raises(UsageError, match="must not be negative"):
        RetryPolicy(max_retries=-1)


def test_limiter_window_with_a_fake_clock():
    """rpm=2 per 10 s: two starts at once, the next two when the window has moved on."""
    now = [0.0]
    limiter = RateLimiter(
        rpm=2, window=10.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    times = []
    for _ in range(5):
        with limiter.slot():
            times.append(now[0])
    assert times == [0.0, 0.0, pytest.approx(10.0), pytest.approx(10.0), pytest.approx(20.0)]
    # rpm=1 in a short window (the vision client's pacing): starts exactly a window apart
    now[0] = 0.0
    spaced = RateLimiter(
        rpm=1,
        window=0.5,
        concurrency=None,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert [spaced.acquire_start()[0] for _ in range(3)] == [0.0, 0.5, 1.0]


def test_limiter_caps_requests_in_flight():
    limiter = RateLimiter(concurrency=2)
    lock, inside, most = threading.Lock(), [0], [0]
    gate = threading.Barrier(2, timeout=5)

    def one(i: int) -> None:
        with limiter.slot():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            if i < 2:
                gate.wait()  # the first two meet inside: both slots are taken at once
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads[:2]:
        t.start()
    for t in threads[:2]:
        t.join(5)
    for t in threads[2:]:
        t.start()
    for t in threads[2:]:
        t.join(5)
    assert most[0] == 2


def test_limiter_refuses_impossible_limits():
    for kwargs in ({"rpm": 0}, {"tpm": 0}, {"concurrency": -1}, {"window": 0.0}):
        with pytest.raises(UsageError, match="at least one request per window"):
            RateLimiter(**kwargs)
    assert RateLimiter(concurrency=0)._inflight is None  # 0: no cap, as the settings mean


def test_excerpt_of_a_server_answer_for_error_messages():
    from vidpipe.errors import excerpt

    body = b'{"error":\n  {"message": "model  not\\tfound"}}' + b"\xff"
    assert excerpt(body) == '{"error": {"message": "model not\\tfound"}}\ufffd'
    assert excerpt("a  b\n\nc", limit=4) == "a b…" and len(excerpt("x" * 500)) == 160
    assert excerpt("  \n ") == "" and excerpt(b"", empty="(empty body)") == "(empty body)"
    assert excerpt(ValueError("bad  value")) == "bad value"
