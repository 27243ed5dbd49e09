"""The benchmark's raw-data generator: row counts, call/lease ground truth, determinism.

The interval join benchmark is only meaningful if the generated calls are what the
realtime service would have recorded: a call with reason `lease` sits inside the
lease of its session, and that lease is the one realtime would pick (the latest
covering lease of the number, ends inclusive). These tests check that in SQL, on
the written DuckDB file, independently of how the generator placed the calls.
"""

from __future__ import annotations

from dataclasses import replace

import duckdb
import pytest

from benchmarks.generate_raw import Config, write
from pipelines.raw_schema import RAW_TABLES

# Two days, a dense pool and high rates, so every kind of call occurs.
TINY = Config(
    days=2,
    sessions_per_day=2_000,
    seed=7,
    shared_lease_rate=0.05,
    call_rate=0.1,
    no_lease_share=0.1,
    stray_share=0.05,
    static_share=0.05,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    path = tmp_path_factory.mktemp("gen") / "tiny.duckdb"
    write(path, TINY)
    conn = duckdb.connect(str(path), read_only=True)
    yield conn
    conn.close()


def _one(conn, sql: str):
    return conn.execute(sql).fetchone()[0]


def test_tiny_scale_writes_the_configured_sessions_leases_and_calls(tiny):
    days, per_day = TINY.n_days, TINY.sessions_per_day
    assert _one(tiny, "select count(*) from raw.sessions") == days * per_day
    assert _one(tiny, "select count(*) from raw.number_leases") == days * per_day
    assert _one(tiny, "select count(distinct _day) from raw.sessions") == days
    shared = _one(tiny, "select count(*) from raw.number_leases where is_shared")
    assert shared == days * round(per_day * TINY.shared_lease_rate)
    matched = days * round(per_day * TINY.call_rate)
    by_reason = dict(
        tiny.execute("select attribution_reason, count(*) from raw.calls group by 1").fetchall()
    )
    assert by_reason.get("lease", 0) + by_reason.get("shared_lease", 0) == matched
    assert by_reason["shared_lease"] > 0
    assert by_reason["no_lease"] == days * round(matched / days * TINY.no_lease_share)
    assert by_reason["stray"] == days * round(matched / days * TINY.stray_share)
    assert by_reason["static:offline/billboard"] == days * round(matched / days * 0.05)


def test_every_raw_table_is_written_and_none_is_left_empty(tiny):
    for table in RAW_TABLES:
        assert _one(tiny, f"select count(*) from raw.{table}") > 0, table


def test_every_matched_call_is_inside_the_lease_realtime_would_pick(tiny):
    # realtime: leased_from <= started_at <= leased_until, latest leased_from wins
    wrong = tiny.execute("""
        with picked as (
            select c.entry_id, c.session_id as call_session, c.attribution_reason,
                   l.session_id as lease_session, l.is_shared,
                   row_number() over (partition by c.entry_id
                                      order by l.leased_from desc) as rank
            from raw.calls c
            join raw.number_leases l
              on l.number = c.tracking_number
             and l.leased_from <= c.started_at and c.started_at <= l.leased_until
            where c.attribution_reason in ('lease', 'shared_lease')
        )
        select entry_id from picked
        where rank = 1
          and (call_session <> lease_session
               or (attribution_reason = 'shared_lease') <> is_shared)
    """).fetchall()
    assert wrong == []
    covered = _one(tiny, """
        select count(distinct c.entry_id) from raw.calls c
        join raw.number_leases l
          on l.number = c.tracking_number
         and l.leased_from < c.started_at and c.started_at < l.leased_until
        where c.attribution_reason in ('lease', 'shared_lease')
    """)
    matched = _one(
        tiny, "select count(*) from raw.calls where attribution_reason in ('lease', 'shared_lease')"
    )
    assert covered == matched  # strictly inside: never on an end of the lease


def test_unmatched_calls_fall_in_no_lease_and_their_number_says_why(tiny):
    inside_a_lease = _one(tiny, """
        select count(*) from raw.calls c
        where c.attribution_reason not in ('lease', 'shared_lease')
          and exists (select 1 from raw.number_leases l
                      where l.number = c.tracking_number
                        and l.leased_from <= c.started_at and c.started_at <= l.leased_until)
    """)
    assert inside_a_lease == 0
    verdicts = tiny.execute("""
        select c.attribution_reason, n.kind, n.is_former, n.quarantine_until > c.started_at,
               count(*)
        from raw.calls c
        join raw.tracking_numbers n on n.number = c.tracking_number and n._day = c._day
        where c.attribution_reason not in ('lease', 'shared_lease')
        group by all order by 1
    """).fetchall()
    unmatched = _one(
        tiny,
        "select count(*) from raw.calls where attribution_reason not in ('lease', 'shared_lease')",
    )
    assert [row[:4] for row in verdicts] == [
        ("no_lease", "dynamic", False, None),
        ("static:offline/billboard", "static", False, None),
        ("stray", "dynamic", True, True),
    ]
    assert sum(row[4] for row in verdicts) == unmatched


def test_leases_of_one_number_overlap_only_when_one_is_shared(tiny):
    overlapping = _one(tiny, """
        select count(*) from raw.number_leases a
        join raw.number_leases b
          on a.number = b.number and a.lease_id < b.lease_id
         and a.leased_from <= b.leased_until and b.leased_from <= a.leased_until
        where not a.is_shared and not b.is_shared
    """)
    assert overlapping == 0


def test_spend_campaigns_are_the_ones_sessions_are_tagged_with(tiny):
    visited = _one(tiny, """
        select count(distinct s.utm_campaign) from raw.sessions s
        where s.utm_campaign in (select campaign_id from raw.ad_spend_yandex_direct
                                 union all select campaign_id from raw.ad_spend_google_ads)
    """)
    assert visited > 10


def test_same_seed_writes_the_same_rows_and_another_seed_other_rows(tmp_path):
    small = replace(TINY, days=1, sessions_per_day=500)

    def snapshot(path) -> dict[str, list[tuple]]:
        with duckdb.connect(str(path), read_only=True) as conn:
            return {t: sorted(conn.execute(f"select * from raw.{t}").fetchall(), key=repr)
                    for t in RAW_TABLES}  # fmt: skip

    write(tmp_path / "a.duckdb", small)
    write(tmp_path / "b.duckdb", small)
    write(tmp_path / "c.duckdb", replace(small, seed=8))
    first = snapshot(tmp_path / "a.duckdb")
    assert snapshot(tmp_path / "b.duckdb") == first
    assert snapshot(tmp_path / "c.duckdb")["calls"] != first["calls"]


def test_an_existing_file_is_not_overwritten_without_force(tmp_path):
    path = tmp_path / "keep.duckdb"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="--force"):
        write(path, replace(TINY, days=1, sessions_per_day=100))
    assert path.read_bytes() == b"precious"


def test_no_visitor_or_caller_gathers_a_skewed_share_of_the_traffic(tiny):
    # A hot key (one visitor with thousands of sessions) would turn the per-visitor
    # attribution paths quadratic and measure the generator, not the models.
    biggest_visitor = _one(
        tiny, "select max(n) from (select count(*) as n from raw.sessions group by visitor_id)"
    )
    biggest_caller = _one(
        tiny, "select max(n) from (select count(*) as n from raw.calls group by caller_number)"
    )
    assert biggest_visitor <= 10
    assert biggest_caller <= 10


def test_recommended_pool_size_is_the_realtime_advisors(tiny):
    from realtime.pool.advisor import servers_needed

    rows = tiny.execute(
        "select offered_load_erlangs, target_blocking, recommended_size from raw.pool_snapshots"
    ).fetchall()
    assert rows
    for load, target, recommended in rows:
        assert recommended == servers_needed(load, target)
