import pytest

from connectors.base import RateLimiter, Retryable, SourceError, with_retries


def test_retries_wait_the_providers_hint_then_succeed():
    waits, calls = [], iter([Retryable("202 queued", retry_after=7), Retryable("503"), "ok"])

    def call():
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert with_retries(call, source="yandex_direct", account="acme", sleep=waits.append) == "ok"
    assert waits[0] == 7
    assert 0 <= waits[1] <= 2  # no hint: jittered backoff


def test_giving_up_names_the_source_account_and_the_last_problem():
    def always():
        raise Retryable("HTTP 429 Too Many Requests", retry_after=0)

    with pytest.raises(SourceError, match=r"amocrm \[shop\]: gave up after 3 attempts: HTTP 429"):
        with_retries(always, source="amocrm", account="shop", attempts=3, sleep=lambda s: None)


def test_errors_that_are_not_retryable_surface_at_once():
    calls = []

    def bad():
        calls.append(1)
        raise SourceError("bitrix24", "portal", "token rejected", "Issue a new webhook URL")

    with pytest.raises(SourceError, match="token rejected"):
        with_retries(bad, source="bitrix24", account="portal", sleep=lambda s: None)
    assert len(calls) == 1


def test_rate_limiter_holds_calls_to_the_published_rate():
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(7, 1.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(21):
        limiter.acquire()
    # a burst of 7, then one every 1/7 s: 14 more calls take 2 s
    assert now[0] == pytest.approx(2.0, abs=1e-6)
