"""One pool contract, two backends: SQLite (embedded) and a real Redis (production)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from realtime.pool.models import InventoryNumber, PoolPolicy
from realtime.pool.redis import RedisPoolStore
from realtime.pool.sqlite import SQLitePoolStore
from tests.conftest import MOW_NUMBERS, SPE_NUMBERS, T0, inventory

HOLD = timedelta(minutes=20)
POLICY = PoolPolicy()


@pytest.fixture(params=["sqlite", "redis"])
def pool(request, tmp_path):
    if request.param == "sqlite":
        store = SQLitePoolStore(tmp_path / "pool.sqlite3")
        yield store
        store.close()
        return
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
    prefix = f"cptest:{uuid.uuid4().hex[:8]}:"
    store = RedisPoolStore(client, prefix)
    yield store
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def stocked(pool):
    assert pool.import_numbers(inventory()) == len(inventory())
    return pool


def take(pool, company="acme", session="s", regions=("RU-MOW",), at=T0, share=True):
    return pool.acquire(company, session, list(regions), at, at + HOLD, share)


def test_reimporting_numbers_changes_nothing(stocked):
    assert stocked.import_numbers(inventory()) == 0
    assert len(stocked.list_states()) == len(inventory())


def test_first_visitors_grow_the_company_pool_from_regional_inventory(stocked):
    grants = [take(stocked, session=f"s{i}") for i in range(3)]
    assert [g.outcome for g in grants] == ["grown"] * 3
    assert sorted(g.number for g in grants) == MOW_NUMBERS
    state = stocked.state(MOW_NUMBERS[0])
    assert (state.company_id, state.bound_at, state.session_id) == ("acme", T0, "s0")


def test_a_released_lease_is_reused_before_growing(stocked):
    first = take(stocked, session="s1")
    later = take(stocked, session="s2", at=T0 + HOLD + timedelta(seconds=1))
    assert (later.outcome, later.number) == ("free", first.number)


def test_least_recently_active_free_number_comes_first(stocked):
    a = take(stocked, session="a")
    b = take(stocked, session="b")
    assert stocked.renew("acme", a.number, T0 + timedelta(minutes=10), T0 + timedelta(minutes=30))
    after_both = T0 + timedelta(minutes=31)
    assert take(stocked, session="c", at=after_both).number == b.number


def test_live_leases_are_never_handed_out_twice_until_exhaustion_shares(stocked):
    grants = [take(stocked, session=f"s{i}") for i in range(4)]
    assert len({g.number for g in grants[:3]}) == 3
    assert grants[3].outcome == "shared"
    assert grants[3].number in MOW_NUMBERS
    assert stocked.stats("acme", T0, T0 - timedelta(days=1)).exhaustion_events == 1


def test_fallback_policy_gives_no_number_when_exhausted_and_counts_it(stocked):
    for i in range(3):
        take(stocked, session=f"s{i}")
    grant = take(stocked, session="late", share=False)
    assert (grant.outcome, grant.number) == ("exhausted", None)
    assert stocked.stats("acme", T0, T0).exhaustion_events == 1


def test_a_region_without_free_numbers_falls_back_to_the_next_region(stocked):
    grant = take(stocked, regions=["RU-NVS", "RU-SPE"])
    assert (grant.outcome, grant.region) == ("grown", "RU-SPE")
    assert grant.number in SPE_NUMBERS


def test_a_number_is_never_bound_to_two_companies(stocked):
    acme = [take(stocked, session=f"a{i}") for i in range(3)]
    globex = take(stocked, company="globex", session="g", regions=["RU-MOW", "RU-SPE"])
    assert globex.number in SPE_NUMBERS
    assert globex.number not in {g.number for g in acme}
    # globex holds nothing in Moscow, so it cannot share acme's numbers there
    refused = take(stocked, company="globex", session="g2", regions=["RU-MOW"])
    assert (refused.outcome, refused.number) == ("exhausted", None)


def test_static_numbers_are_never_leased(stocked):
    numbers = {take(stocked, session=f"s{i}").number for i in range(10)}
    assert "+74955559999" not in numbers
    static = stocked.state("+74955559999")
    assert (static.kind, static.company_id, static.channel) == (
        "static",
        "acme",
        "offline/billboard",
    )


def test_renewal_extends_only_the_companys_own_number(stocked):
    grant = take(stocked)
    until = T0 + timedelta(minutes=35)
    assert stocked.renew("acme", grant.number, T0 + timedelta(minutes=15), until)
    assert stocked.state(grant.number).leased_until == until
    assert not stocked.renew("globex", grant.number, T0, until)
    assert not stocked.renew("acme", "+74955559999", T0, until)  # static


def test_binding_ends_14_days_after_the_last_show_not_before(stocked):
    grant = take(stocked)
    last_show = T0
    assert stocked.sweep(last_show + timedelta(days=14) - timedelta(minutes=1), POLICY) == []
    released = stocked.sweep(last_show + timedelta(days=14), POLICY)
    assert [r.number for r in released] == [grant.number]
    state = stocked.state(grant.number)
    assert (state.company_id, state.former_company_id) == (None, "acme")


def test_a_call_keeps_the_binding_alive(stocked):
    grant = take(stocked)
    stocked.record_call("acme", grant.number, T0 + timedelta(days=10))
    assert stocked.sweep(T0 + timedelta(days=15), POLICY) == []
    assert len(stocked.sweep(T0 + timedelta(days=24), POLICY)) == 1


def test_quarantine_is_longest_when_inventory_is_ample(pool):
    pool.import_numbers(
        [InventoryNumber(number=f"+7383555{i:04d}", region="RU-NVS") for i in range(8)]
    )
    grant = take(pool, regions=["RU-NVS"])
    (release,) = pool.sweep(T0 + timedelta(days=15), POLICY)
    assert release.number == grant.number
    # 7 of 8 free = 87.5 %, above the 25 % "ample" mark
    assert release.quarantine_until == release.released_at + timedelta(days=180)


def test_quarantine_is_shortest_when_inventory_is_scarce(stocked):
    grants = [take(stocked, session=f"s{i}") for i in range(3)]  # all of Moscow bound
    releases = stocked.sweep(T0 + timedelta(days=15), POLICY)
    days = [(r.quarantine_until - r.released_at).days for r in releases]
    assert sorted(r.number for r in releases) == sorted(g.number for g in grants)
    # released numbers rest in quarantine, so they never count as free: all get the minimum
    assert days == [90, 90, 90]


def test_quarantine_formula_scales_with_the_free_share():
    assert POLICY.quarantine_days(free=0, total=10) == 90
    assert POLICY.quarantine_days(free=1, total=10) == 126  # 10 % / 25 % of the span
    assert POLICY.quarantine_days(free=5, total=10) == 180
    assert POLICY.quarantine_days(free=0, total=0) == 90


def test_a_quarantined_number_is_not_bound_to_anyone_until_quarantine_ends(stocked):
    grants = [take(stocked, session=f"s{i}") for i in range(3)]
    released = {r.number: r for r in stocked.sweep(T0 + timedelta(days=15), POLICY)}
    first = min(released.values(), key=lambda r: r.quarantine_until)
    during = first.quarantine_until - timedelta(seconds=1)
    grant = take(stocked, company="globex", session="g", regions=["RU-MOW"], at=during)
    assert grant.number not in released or grant.outcome == "exhausted"
    after = first.quarantine_until
    grant = take(stocked, company="globex", session="g2", regions=["RU-MOW"], at=after)
    assert (grant.outcome, grant.number) == ("grown", first.number)
    assert len(grants) == 3


def test_stats_show_bound_leased_and_free_per_region(stocked):
    take(stocked, session="a")
    take(stocked, session="b")
    stats = stocked.stats("acme", T0 + timedelta(minutes=1), T0)
    by_region = {r.region: r for r in stats.regions}
    assert (by_region["RU-MOW"].bound, by_region["RU-MOW"].leased_now) == (2, 2)
    assert by_region["RU-MOW"].free_inventory == 1
    assert by_region["RU-SPE"].free_inventory == 3
    later = stocked.stats("acme", T0 + HOLD + timedelta(minutes=1), T0)
    assert sum(r.leased_now for r in later.regions) == 0


def test_rate_limit_counts_per_key_per_window(pool):
    hits = [pool.hit_rate_limit("ip:1.2.3.4", T0, 60) for _ in range(3)]
    assert hits == [1, 2, 3]
    assert pool.hit_rate_limit("ip:5.6.7.8", T0, 60) == 1
    assert pool.hit_rate_limit("ip:1.2.3.4", T0 + timedelta(seconds=61), 60) == 1
