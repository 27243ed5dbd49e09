from datetime import timedelta

import pytest

from realtime.domain import Lease
from realtime.pool.advisor import (
    erlang_b,
    servers_needed,
    simulate_blocking,
    traffic_from_leases,
)
from tests.conftest import T0


def test_erlang_b_matches_published_table_values():
    # Classic table: 10 Erlangs on 15 trunks block ~3.65 %; 1 Erlang on 1 trunk, 50 %.
    assert erlang_b(15, 10) == pytest.approx(0.0365, abs=5e-4)
    assert erlang_b(1, 1) == pytest.approx(0.5)
    assert erlang_b(0, 3) == 1.0


def test_recommended_size_is_the_smallest_meeting_the_target():
    n = servers_needed(50, 0.01)
    assert erlang_b(n, 50) <= 0.01 < erlang_b(n - 1, 50)
    assert servers_needed(0, 0.01) == 0


@pytest.mark.parametrize(("arrivals_per_hour", "hold_minutes"), [(120, 25), (30, 40), (600, 21)])
def test_recommended_size_meets_the_target_in_simulation(arrivals_per_hour, hold_minutes):
    target = 0.01
    load = arrivals_per_hour * hold_minutes / 60
    n = servers_needed(load, target)
    blocked = simulate_blocking(arrivals_per_hour, hold_minutes, n, arrivals=120_000, seed=3)
    assert blocked <= target * 1.3  # within Monte-Carlo tolerance
    # and it is not oversized: three numbers fewer clearly miss the target
    assert simulate_blocking(arrivals_per_hour, hold_minutes, n - 3, 120_000, seed=3) > target


def test_traffic_is_read_from_the_busiest_hour_of_the_lease_history():
    def lease(minute: int, held: int) -> Lease:
        start = T0 + timedelta(minutes=minute)
        return Lease(
            id=f"l{minute}",
            company_id="c",
            number="+74955550000",
            session_id="s",
            leased_from=start,
            last_seen_at=start,
            leased_until=start + timedelta(minutes=held),
        )

    traffic = traffic_from_leases([lease(0, 20), lease(5, 40), lease(30, 30), lease(70, 30)])
    assert traffic.peak_arrivals_per_hour == 3
    assert traffic.mean_hold_minutes == 30
    assert traffic.offered_load == pytest.approx(1.5)
