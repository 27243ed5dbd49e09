"""`dbt build` at scale against a bare DuckDB query and a pandas baseline.

    python benchmarks/bench_dbt.py --sf 1 4 --commit HEAD
    python benchmarks/bench_dbt.py --sf 1 4 12 --commit HEAD --skip-pandas-above 4

For each scale factor the raw tables are generated once (benchmarks/generate_raw.py,
cached under var/bench/ by the generator's and raw schema's content, SF and seed),
then the jobs run, each in a fresh process so its peak RSS is its own (os.wait4):

- dbt: `pipelines.transform.dbt_build` on a fresh copy of the raw file (a full
  build: every model and every data test, as the nightly job runs it);
- reference: one DuckDB SQL statement doing the same core work, the interval join
  of calls against the lease history (ASOF join: the latest lease taken at or before
  the call, kept if the call is not after its end) and the daily aggregation of
  sessions, calls and cost by channel and campaign (`REFERENCE_SQL`);
- reference_capped: the same statement under the memory cap the dbt target has
  (CALLPATH_DUCKDB_MEMORY_LIMIT, 3 GB): uncapped, DuckDB takes up to 80 % of RAM
  (11 GB at SF12), which the dbt job is not allowed;
- dbt_nightly: the nightly run on the same history: every day but the last is built
  first (untimed), then the last day lands and the build that follows is timed; the
  incremental models rebuild only their trailing days;
- pandas: what an analyst would hand-write: read the tables, `merge_asof` calls onto
  leases by number, classify channels, group by day, channel and campaign.

`--commit REV` measures exactly that commit: its tree is exported with `git archive`
and the jobs run from it, so uncommitted edits in the working tree don't leak in.
Results go to var/bench/dbt_results.json (`--results`) and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "var" / "bench"

# Channel rules of the reference and pandas jobs: the main branches of the dbt macro
# channel_from_utm (paid search by platform source, organic search by referrer...),
# enough that the grouping does the same work; not a second source of truth.
REFERENCE_SQL = """
create temp table reference_daily as
with sessions as (
    select
        session_id, _day as report_date, utm_source, utm_medium, utm_campaign,
        case
            when utm_medium in ('cpc', 'ppc', 'cpm', 'paid')
                 and utm_source in ('yandex', 'google', 'bing') then 'paid_search'
            when utm_medium in ('cpc', 'ppc', 'cpm', 'paid') then 'paid_social'
            when utm_medium = 'email' then 'email'
            when utm_medium = 'messenger' then 'messenger'
            when utm_source is not null or utm_medium is not null then 'unknown'
            when gclid is not null or yclid is not null then 'paid_search'
            when referrer is null then 'direct'
            when referrer like '%google.%' or referrer like '%yandex.%' then 'organic_search'
            when referrer like '%vk.com%' then 'social'
            else 'referral'
        end as channel
    from raw.sessions
),
-- the interval join: the latest lease of the number taken at or before the call,
-- kept only if the call is not after its end
calls as (
    select c._day as report_date, c.attribution_reason like 'static:%' as is_static,
           case when c.started_at <= l.leased_until then l.session_id end as session_id
    from raw.calls c
    asof left join raw.number_leases l
        on l.company_id = c.company_id
        and l.number = c.tracking_number
        and c.started_at >= l.leased_from
    where c.direction = 'inbound'
),
attributed as (
    select calls.report_date,
           coalesce(s.channel, case when calls.is_static then 'offline' else 'unknown' end)
               as channel,
           s.utm_source, s.utm_medium, s.utm_campaign
    from calls
    left join sessions s on s.session_id = calls.session_id
),
spend as (
    select date_day as report_date, campaign_id, sum(spend) as cost
    from (select date_day, campaign_id, spend from raw.ad_spend_yandex_direct
          union all select date_day, campaign_id, spend from raw.ad_spend_google_ads)
    group by 1, 2
),
facts as (
    select report_date, channel, utm_source, utm_medium, utm_campaign,
           1 as sessions, 0 as calls
    from sessions
    union all
    select report_date, channel, utm_source, utm_medium, utm_campaign, 0, 1
    from attributed
),
daily as (
    select report_date, channel, utm_source, utm_medium, utm_campaign,
           sum(sessions) as sessions, sum(calls) as calls
    from facts
    group by all
)
select daily.*, coalesce(spend.cost, 0) as cost
from daily
full join spend
    on spend.report_date = daily.report_date and spend.campaign_id = daily.utm_campaign
"""


def _job_dbt(db: Path) -> dict:
    from pipelines.transform import dbt_artifacts_dir, dbt_build

    began = time.perf_counter()
    result = dbt_build(db, unit_tests=False)  # as pipelines.daily.run_dbt_build
    seconds = time.perf_counter() - began
    run_results = json.loads(
        (dbt_artifacts_dir(db, "duckdb") / "target" / "run_results.json").read_text()
    )
    slowest = sorted(
        ((r["unique_id"], r["execution_time"]) for r in run_results["results"]),
        key=lambda item: -item[1],
    )[:8]
    import duckdb

    with duckdb.connect(str(db), read_only=True) as conn:
        rows, calls, cost = conn.execute(
            "select count(*), sum(calls), sum(cost) from main.e2e_daily"
        ).fetchone()
    # Node time summed by kind (threads overlap, so these add up to more than wall)
    by_kind: dict[str, float] = {}
    for r in run_results["results"]:
        kind = r["unique_id"].split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + r["execution_time"]
    return {"seconds": seconds, "nodes": len(result.nodes), "slowest": slowest,
            "node_seconds_by_kind": by_kind,
            "rows": rows, "calls": int(calls), "cost": float(cost)}  # fmt: skip


# dbt_nightly: the run an operator waits for every night. The history (every day but
# the last) is built first, untimed, by `_prepare_nightly` in its own process; then
# the last day lands and `_job_dbt_nightly` times the build that follows, which
# rebuilds the incremental models' trailing days and everything downstream.
HELD_SCHEMA = "bench_held"


def _day_partitioned_tables(conn) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "select table_name from information_schema.columns"
            " where table_schema = 'raw' and column_name = '_day' order by table_name"
        ).fetchall()
    ]


def _prepare_nightly(db: Path) -> dict:
    import duckdb

    from pipelines.transform import dbt_build

    with duckdb.connect(str(db)) as conn:
        [(last_day,)] = conn.execute("select max(_day) from raw.sessions").fetchall()
        conn.execute(f"create schema {HELD_SCHEMA}")
        for table in _day_partitioned_tables(conn):
            conn.execute(
                f"create table {HELD_SCHEMA}.{table} as"
                f" select * from raw.{table} where _day = ?", [last_day]
            )
            conn.execute(f"delete from raw.{table} where _day = ?", [last_day])
    dbt_build(db, unit_tests=False)
    return {"seconds": 0.0, "last_day": str(last_day)}


def _job_dbt_nightly(db: Path) -> dict:
    import duckdb

    with duckdb.connect(str(db)) as conn:
        for (table,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = ?",
            [HELD_SCHEMA],
        ).fetchall():
            conn.execute(f"insert into raw.{table} select * from {HELD_SCHEMA}.{table}")
        conn.execute(f"drop schema {HELD_SCHEMA} cascade")
    return _job_dbt(db)


def _job_reference(db: Path, memory_limit: str | None = None) -> dict:
    import duckdb

    conn = duckdb.connect(str(db), read_only=True)
    try:
        if memory_limit:
            # what the dbt job gets: the profile's cap, spilling beside the file
            conn.execute(f"set memory_limit = '{memory_limit}'")
            conn.execute(f"set temp_directory = '{db}.reference.tmp'")
        began = time.perf_counter()
        conn.execute(REFERENCE_SQL)
        seconds = time.perf_counter() - began
        rows, calls, cost = conn.execute(
            "select count(*), sum(calls), sum(cost) from reference_daily"
        ).fetchone()
    finally:
        conn.close()
    return {"seconds": seconds, "rows": rows, "calls": int(calls), "cost": float(cost)}


def _job_pandas(db: Path) -> dict:
    import duckdb
    import numpy as np
    import pandas as pd

    began = time.perf_counter()
    conn = duckdb.connect(str(db), read_only=True)
    try:
        sessions = conn.execute(
            "select session_id, _day, utm_source, utm_medium, utm_campaign, referrer,"
            " gclid, yclid from raw.sessions"
        ).df()
        leases = conn.execute(
            "select number, session_id, leased_from, leased_until from raw.number_leases"
        ).df()
        calls = conn.execute(
            "select entry_id, tracking_number, started_at, _day, attribution_reason"
            " from raw.calls where direction = 'inbound'"
        ).df()
        spend = conn.execute(
            "select date_day, campaign_id, spend from raw.ad_spend_yandex_direct"
            " union all select date_day, campaign_id, spend from raw.ad_spend_google_ads"
        ).df()
    finally:
        conn.close()
    loaded = time.perf_counter()

    paid = sessions["utm_medium"].isin(["cpc", "ppc", "cpm", "paid"])
    tagged = sessions["utm_source"].notna() | sessions["utm_medium"].notna()
    referrer = sessions["referrer"].fillna("")
    sessions["channel"] = np.select(
        [
            paid & sessions["utm_source"].isin(["yandex", "google", "bing"]),
            paid,
            sessions["utm_medium"].eq("email"),
            sessions["utm_medium"].eq("messenger"),
            tagged,
            sessions["gclid"].notna() | sessions["yclid"].notna(),
            referrer.eq(""),
            referrer.str.contains("google.", regex=False)
            | referrer.str.contains("yandex.", regex=False),
            referrer.str.contains("vk.com", regex=False),
        ],
        ["paid_search", "paid_social", "email", "messenger", "unknown", "paid_search",
         "direct", "organic_search", "social"],
        default="referral",
    )  # fmt: skip

    calls = calls.dropna(subset=["tracking_number"]).sort_values("started_at")
    leases = leases.sort_values("leased_from")
    matched = pd.merge_asof(
        calls,
        leases,
        left_on="started_at",
        right_on="leased_from",
        left_by="tracking_number",
        right_by="number",
        direction="backward",
    )
    matched.loc[matched["started_at"] > matched["leased_until"], "session_id"] = None
    keys = ["utm_source", "utm_medium", "utm_campaign", "channel"]
    attributed = matched.merge(sessions[["session_id", *keys]], on="session_id", how="left")
    static = attributed["attribution_reason"].str.startswith("static:")
    attributed["channel"] = attributed["channel"].fillna(
        pd.Series(np.where(static, "offline", "unknown"), index=attributed.index)
    )
    grain = ["report_date", "channel", "utm_source", "utm_medium", "utm_campaign"]
    session_counts = (
        sessions.rename(columns={"_day": "report_date"})
        .groupby(grain, dropna=False)
        .size()
        .rename("sessions")
    )
    call_counts = (
        attributed.rename(columns={"_day": "report_date"})
        .groupby(grain, dropna=False)
        .size()
        .rename("calls")
    )
    daily = pd.concat([session_counts, call_counts], axis=1).fillna(0).reset_index()
    cost = spend.groupby(["date_day", "campaign_id"], as_index=False)["spend"].sum()
    report = daily.merge(
        cost,
        left_on=["report_date", "utm_campaign"],
        right_on=["date_day", "campaign_id"],
        how="outer",
    )
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "load_seconds": loaded - began,
        "rows": len(report),
        "calls": int(report["calls"].sum()),
        "cost": float(report["spend"].astype(float).sum()),
    }


def _job_reference_capped(db: Path) -> dict:
    """The reference under the dbt target's memory cap (dbt/profiles.yml)."""
    return _job_reference(db, os.environ.get("CALLPATH_DUCKDB_MEMORY_LIMIT", "3GB"))


JOBS = {
    "dbt": _job_dbt,
    "dbt_nightly": _job_dbt_nightly,
    "reference": _job_reference,
    "reference_capped": _job_reference_capped,
    "pandas": _job_pandas,
}


def _run_job(tree: Path, job: str, db: Path) -> dict:
    """Run one job in a fresh interpreter and reap it with wait4, whose rusage is that
    child's alone (RUSAGE_CHILDREN would be the maximum over every job run so far)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, str(tree / "benchmarks" / "bench_dbt.py"), "--job", job, str(db)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(command, cwd=tree, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{job} on {db} failed ({proc.returncode}):\n{stderr[-4000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["process_seconds"] = wall
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def _export_tree(rev: str) -> tuple[Path, str]:
    if rev == "worktree":  # while developing: the working tree, edits and all
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout.strip()
        return REPO, f"{head} plus uncommitted changes"
    commit = subprocess.run(
        ["git", "rev-parse", rev], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()
    tree = Path(tempfile.gettempdir()) / f"callpath_bench_{commit[:12]}"
    if not (tree / "dbt" / "dbt_project.yml").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", commit], cwd=REPO, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree, commit


def _raw_file(tree: Path, sf: float, seed: int) -> Path:
    """The generated raw tables for `sf`, cached by what they depend on."""
    digest = hashlib.sha256()
    for part in ("pipelines/raw_schema.py", "benchmarks/generate_raw.py"):
        digest.update((tree / part).read_bytes())
    path = BENCH_DIR / f"raw_sf{sf:g}_seed{seed}_{digest.hexdigest()[:10]}.duckdb"
    if not path.exists():
        partial = path.with_suffix(".partial")
        subprocess.run(
            [sys.executable, str(tree / "benchmarks" / "generate_raw.py"), "--sf", f"{sf:g}",
             "--seed", str(seed), "--out", str(partial), "--force"],
            cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, check=True,
        )  # fmt: skip
        partial.rename(path)
    return path


def _fresh_copy(raw: Path, name: str) -> Path:
    target = BENCH_DIR / name
    artifacts = target.parent / f"{target.stem}.dbt-duckdb"
    for stale in (target, target.with_name(target.name + ".wal")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(artifacts, ignore_errors=True)
    shutil.copyfile(raw, target)
    return target


def _machine() -> dict:
    import duckdb

    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from dbt.version import __version__ as dbt_version

    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dbt_core": dbt_version,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="dbt build at scale (issue 6)")
    parser.add_argument("--sf", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--commit", default="HEAD",
                        help="git revision to measure, or `worktree`")
    parser.add_argument("--jobs", nargs="+", default=list(JOBS), choices=list(JOBS))
    parser.add_argument("--skip-pandas-above", type=float, default=4.0,
                        help="no pandas baseline above this SF (it holds every row in RAM)")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "dbt_results.json",
                        help="where the JSON results go")
    parser.add_argument("--job", nargs=2, metavar=("NAME", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)  # fmt: skip

    if args.job:  # inside the measured child process
        name, db = args.job
        job = _prepare_nightly if name == "prepare_nightly" else JOBS[name]
        print(json.dumps(job(Path(db))))
        return 0

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    tree, commit = _export_tree(args.commit)
    report = {"commit": commit, "machine": _machine(), "results": []}
    print(f"measuring {commit} from {tree}", file=sys.stderr)
    for sf in args.sf:
        raw = _raw_file(tree, sf, args.seed)
        for job in args.jobs:
            if job == "pandas" and sf > args.skip_pandas_above:
                continue
            db = raw
            if job in ("dbt", "dbt_nightly"):
                db = _fresh_copy(raw, f"run_sf{sf:g}_{job}.duckdb")
            if job == "dbt_nightly":
                print(f"SF{sf:g} building all days but the last ...", file=sys.stderr, flush=True)
                _run_job(tree, "prepare_nightly", db)
            print(f"SF{sf:g} {job} ...", file=sys.stderr, flush=True)
            result = _run_job(tree, job, db)
            result.update({"sf": sf, "job": job})
            print(f"  {result['seconds']:.1f} s, {result['peak_rss_mb']:.0f} MB",
                  file=sys.stderr, flush=True)  # fmt: skip
            report["results"].append(result)
            args.results.write_text(json.dumps(report, indent=2))
    print(_markdown(report))
    return 0


def _markdown(report: dict) -> str:
    by = {(r["sf"], r["job"]): r for r in report["results"]}
    lines = [
        "| SF | days | job | wall s | peak RSS MB | dbt / reference | dbt / capped reference"
        " | e2e rows, calls, cost |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for (sf, job), r in sorted(by.items()):
        ratios = ["", ""]
        for i, baseline in enumerate(("reference", "reference_capped")):
            if job == "dbt" and (sf, baseline) in by:
                ratios[i] = f"{r['seconds'] / by[(sf, baseline)]['seconds']:.1f}"
        lines.append(
            f"| {sf:g} | {round(30 * sf)} | {job} | {r['seconds']:.1f} |"
            f" {r['peak_rss_mb']:,.0f} | {ratios[0]} | {ratios[1]} |"
            f" {r['rows']:,}, {r['calls']:,}, {r['cost']:,.2f} |"
        )
    sfs = sorted({sf for sf, job in by if job == "dbt"})
    for low, high in itertools.pairwise(sfs):
        growth = by[(high, "dbt")]["seconds"] / by[(low, "dbt")]["seconds"]
        lines.append(f"\ndbt SF{low:g} -> SF{high:g}: {growth:.2f}x the time")
    for (sf, job), r in sorted(by.items()):
        if job in ("dbt", "dbt_nightly"):
            slow = ", ".join(f"{uid.split('.')[2]} {s:.1f}s" for uid, s in r["slowest"][:5])
            kinds = ", ".join(f"{k} {v:.0f}s" for k, v in r["node_seconds_by_kind"].items())
            lines.append(
                f"\nSF{sf:g} {job} slowest nodes: {slow}\nSF{sf:g} {job} node time by kind: {kinds}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
