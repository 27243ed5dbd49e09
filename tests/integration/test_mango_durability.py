"""Mango webhooks across a real SIGKILL of the service process: a 2xx means stored.

Small-scale run of `benchmarks/durability_mango.py` (the 100,000-event run is in
BENCHMARKS.md): uvicorn in its own process on SQLite with `synchronous=full`, killed
with SIGKILL while requests are in flight, restarted on the same files.
"""

from __future__ import annotations

import sys

import pytest

from benchmarks.durability_mango import run

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")


def test_every_acknowledged_event_survives_sigkill_and_none_is_duplicated(tmp_path):
    report = run(events=3_000, senders=16, kill_after=1_000, sample=200, workdir=tmp_path)

    assert report.violations == [], "\n".join(report.lines())
    # The kill really happened mid-stream: requests were cut off and later ones never sent.
    assert report.acked_before_kill >= 1_000
    assert report.in_flight_at_kill > 0
    assert report.unsent_at_kill > 0
    store = report.store
    assert (store.total_rows, store.distinct_keys, store.duplicate_keys) == (3_000, 3_000, 0)
    assert store.missing_acked == 0
    assert report.sample_duplicate == report.sample_resent == 200
    assert store.calls == 750 and store.stale_calls == 0
