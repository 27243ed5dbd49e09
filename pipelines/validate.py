"""The quality gate: Great Expectations suites on what landed in raw for a run's day.

`callpath_analytics_build` runs `validate_raw` before dbt, on the days `first`..`last`
whose landings triggered it (one day, or several after a backfill). Each suite reads
one raw landing into a pandas dataframe through `pipelines.warehouse` (GX cannot reach DuckDB
through SQLAlchemy, and reading PostgreSQL the same way keeps one code path) and checks
it with GX expectations:

- `ad_spend`: every `raw.ad_spend_<platform>` row of the lookback window (and any row
  landed with it): spend ≥ 0, date_day inside the window, one row per (platform,
  account, campaign, date);
- `calls`: `raw.calls` of the days: entry_id unique per company, wait and talk
  seconds ≥ 0, E.164 tracking and caller numbers;
- `sessions`: `raw.sessions` of the days: session_id unique per company, ids and
  start present, last_seen_at ≥ started_at;
- `crm_deals`: `raw.crm_deals_<crm>` rows updated in the deals lookback: amount ≥ 0,
  a known status, one row per (crm, account, deal).

Every suite's result is written as HTML to `<var_dir>/validation/<run_id>/<suite>.html`
(our own rendering of GX's result: ephemeral GX context, no `great_expectations/`
directory). Any failed check raises `ValidationFailed`, whose message names each check
and shows the offending rows, so nothing downstream (dbt, publish) runs.
"""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines import warehouse
from pipelines.raw_schema import CRMS, RAW_SCHEMA, SPEND_PLATFORMS
from realtime.settings import Settings, get_settings

log = logging.getLogger(__name__)

# E.164: "+", a country code not starting with 0, at most 15 digits in all. 7 digits is
# the shortest national number we accept (short service numbers are not call tracking).
E164 = r"^\+[1-9][0-9]{6,14}$"
DEAL_STATUSES = ("open", "won", "lost")  # connectors.base.DealRecord.status
SAMPLE_ROWS = 10  # offending rows shown per failed check (the HTML shows them all)


@dataclass(frozen=True)
class Check:
    """One expectation with the sentence a person reads when it fails."""

    description: str
    expectation: Any  # a great_expectations.expectations.Expectation
    key_columns: tuple[str, ...]  # what identifies an offending row in the message


@dataclass(frozen=True)
class Suite:
    name: str
    read: Callable[[warehouse.Warehouse, date, date, Settings], pd.DataFrame]
    checks: Callable[[date, date, Settings], list[Check]]


@dataclass(frozen=True)
class CheckResult:
    suite: str
    description: str
    expectation: str  # GX expectation type, e.g. expect_column_values_to_be_between
    success: bool
    unexpected_count: int
    offending_rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def line(self) -> str:
        if self.error:
            return (
                f"{self.suite}: {self.description} [{self.expectation}] could not run: {self.error}"
            )
        sample = self.offending_rows[:SAMPLE_ROWS]
        more = self.unexpected_count - len(sample)
        rows = "; ".join(_row_text(row) for row in sample) + (
            f"; … {more} more" if more > 0 else ""
        )
        return (
            f"{self.suite}: {self.description} [{self.expectation}] failed for "
            f"{self.unexpected_count} row(s): {rows}"
        )


@dataclass(frozen=True)
class SuiteResult:
    name: str
    rows: int
    checks: list[CheckResult]
    html_path: Path

    @property
    def success(self) -> bool:
        return all(check.success for check in self.checks)


@dataclass(frozen=True)
class ValidationReport:
    first: date
    last: date
    suites: list[SuiteResult]

    @property
    def failures(self) -> list[CheckResult]:
        return [check for suite in self.suites for check in suite.checks if not check.success]

    @property
    def success(self) -> bool:
        return not self.failures


class ValidationFailed(RuntimeError):
    """Raw data broke the quality gate; `report` has every suite's result."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        failures = report.failures
        reports = sorted({str(s.html_path) for s in report.suites if not s.success})
        lines = [
            f"quality gate failed for {_days_text(report.first, report.last)}: "
            f"{len(failures)} check(s); "
            "nothing downstream was built or published"
        ]
        lines += [f"- {failure.line()}" for failure in failures]
        lines += [f"report: {path}" for path in reports]
        super().__init__("\n".join(lines))


# --- reading the landings ----------------------------------------------------------


def _frame(wh: warehouse.Warehouse, sql: str, params: Sequence[Any]) -> pd.DataFrame:
    cursor = wh.execute(sql, params)
    columns = [d[0] for d in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=columns)


def spend_window(first: date, last: date, settings: Settings) -> tuple[date, date]:
    """The days spend landings for `first`..`last` re-pull
    (pipelines.daily.run_land_spend_account: a lookback ending on each day)."""
    return first - timedelta(days=settings.spend_lookback_days - 1), last


def _read_spend(
    wh: warehouse.Warehouse, first: date, last: date, settings: Settings
) -> pd.DataFrame:
    start, end = spend_window(first, last, settings)
    # The window's rows, plus anything landed at or after the window's oldest landing:
    # a connector that returned a day outside the window lands it in the same load
    # (same _loaded_at), and the interval check must see it. Later days landed before
    # this run (a backfill of an earlier day) have an older _loaded_at and stay out.
    parts = [
        f"""select '{platform}' as platform, _account, account_id, campaign_id, date_day,
                   spend, _loaded_at
            from {RAW_SCHEMA}.ad_spend_{platform}
            where date_day between %s and %s
               or _loaded_at >= (select min(_loaded_at) from {RAW_SCHEMA}.ad_spend_{platform}
                                 where date_day between %s and %s)"""
        for platform in SPEND_PLATFORMS
    ]
    params = [start, end, start, end] * len(SPEND_PLATFORMS)
    frame = _frame(wh, " union all ".join(parts) + " order by 1, 2, 4, 5", params)
    frame["spend"] = frame["spend"].astype("float64")  # Decimal: GX compares floats
    frame["date_day"] = pd.to_datetime(frame["date_day"])
    return frame


def _read_calls(
    wh: warehouse.Warehouse, first: date, last: date, settings: Settings
) -> pd.DataFrame:
    return _frame(
        wh,
        f"""select company_id, entry_id, tracking_number, caller_number, started_at,
                   wait_seconds, talk_seconds
            from {RAW_SCHEMA}.calls where _day between %s and %s
            order by company_id, entry_id""",
        [first, last],
    )


def _read_sessions(
    wh: warehouse.Warehouse, first: date, last: date, settings: Settings
) -> pd.DataFrame:
    return _frame(
        wh,
        f"""select company_id, session_id, visitor_id, started_at, last_seen_at
            from {RAW_SCHEMA}.sessions where _day between %s and %s
            order by company_id, session_id""",
        [first, last],
    )


def deals_since(day: date, settings: Settings) -> datetime:
    """The oldest change a deals landing for `day` re-pulls (naive UTC, like raw)."""
    return datetime.combine(day - timedelta(days=settings.deals_lookback_days), time.min, UTC)


def _read_deals(
    wh: warehouse.Warehouse, first: date, last: date, settings: Settings
) -> pd.DataFrame:
    since = warehouse.naive_utc(deals_since(first, settings))
    parts = [
        f"""select '{crm}' as crm, _account, deal_id, company_id, status, amount, updated_at
            from {RAW_SCHEMA}.crm_deals_{crm} where updated_at >= %s"""
        for crm in CRMS
    ]
    frame = _frame(wh, " union all ".join(parts) + " order by 1, 2, 3", [since] * len(CRMS))
    frame["amount"] = frame["amount"].astype("float64")
    return frame


# --- the suites --------------------------------------------------------------------


def _spend_checks(first: date, last: date, settings: Settings) -> list[Check]:
    import great_expectations.expectations as gxe

    start, end = spend_window(first, last, settings)
    key = ("platform", "account_id", "campaign_id", "date_day")
    return [
        Check(
            "spend ≥ 0",
            gxe.ExpectColumnValuesToBeBetween(column="spend", min_value=0),
            (*key, "spend"),
        ),
        Check(
            f"date_day inside the interval {start} … {end}",
            gxe.ExpectColumnValuesToBeBetween(
                column="date_day",
                min_value=pd.Timestamp(start).to_pydatetime(),
                max_value=pd.Timestamp(end).to_pydatetime(),
            ),
            key,
        ),
        Check(
            "one row per (platform, account, campaign, date)",
            gxe.ExpectCompoundColumnsToBeUnique(column_list=list(key)),
            key,
        ),
    ]


def _calls_checks(first: date, last: date, settings: Settings) -> list[Check]:
    import great_expectations.expectations as gxe

    key = ("company_id", "entry_id")
    return [
        Check(
            "entry_id unique per company",
            gxe.ExpectCompoundColumnsToBeUnique(column_list=list(key)),
            key,
        ),
        Check("entry_id present", gxe.ExpectColumnValuesToNotBeNull(column="entry_id"), key),
        Check(
            "wait_seconds ≥ 0",
            gxe.ExpectColumnValuesToBeBetween(column="wait_seconds", min_value=0),
            (*key, "wait_seconds"),
        ),
        Check(
            "talk_seconds ≥ 0",
            gxe.ExpectColumnValuesToBeBetween(column="talk_seconds", min_value=0),
            (*key, "talk_seconds"),
        ),
        Check(
            "tracking_number is E.164",
            gxe.ExpectColumnValuesToMatchRegex(column="tracking_number", regex=E164),
            (*key, "tracking_number"),
        ),
        Check(
            "caller_number is E.164 (when known)",
            gxe.ExpectColumnValuesToMatchRegex(column="caller_number", regex=E164),
            (*key, "caller_number"),
        ),
    ]


def _sessions_checks(first: date, last: date, settings: Settings) -> list[Check]:
    import great_expectations.expectations as gxe

    key = ("company_id", "session_id")
    return [
        Check(
            "session_id unique per company",
            gxe.ExpectCompoundColumnsToBeUnique(column_list=list(key)),
            key,
        ),
        Check("session_id present", gxe.ExpectColumnValuesToNotBeNull(column="session_id"), key),
        Check("started_at present", gxe.ExpectColumnValuesToNotBeNull(column="started_at"), key),
        Check(
            "last_seen_at ≥ started_at",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="last_seen_at", column_B="started_at", or_equal=True
            ),
            (*key, "started_at", "last_seen_at"),
        ),
    ]


def _deals_checks(first: date, last: date, settings: Settings) -> list[Check]:
    import great_expectations.expectations as gxe

    key = ("crm", "_account", "deal_id")
    return [
        Check(
            "amount ≥ 0",
            gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0),
            (*key, "amount"),
        ),
        Check(
            f"status is one of {', '.join(DEAL_STATUSES)}",
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=list(DEAL_STATUSES)),
            (*key, "status"),
        ),
        Check(
            "one row per (crm, account, deal)",
            gxe.ExpectCompoundColumnsToBeUnique(column_list=list(key)),
            key,
        ),
    ]


SUITES: tuple[Suite, ...] = (
    Suite("ad_spend", _read_spend, _spend_checks),
    Suite("calls", _read_calls, _calls_checks),
    Suite("sessions", _read_sessions, _sessions_checks),
    Suite("crm_deals", _read_deals, _deals_checks),
)


# --- running GX --------------------------------------------------------------------


def _gx():
    """Great Expectations, imported quietly: no usage statistics, no progress bars."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx


def _context():
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")  # nothing written to disk
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def run_suite(
    suite: Suite, frame: pd.DataFrame, first: date, last: date, settings: Settings
) -> list[CheckResult]:
    """Validate `frame` with the suite's expectations; one CheckResult per check."""
    context = _context()
    checks = suite.checks(first, last, settings)
    batch = (
        context.data_sources.add_pandas(f"raw_{suite.name}")
        .add_dataframe_asset(suite.name)
        .add_batch_definition_whole_dataframe("landing")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    results = []
    for check in checks:
        outcome = batch.validate(check.expectation, result_format={"result_format": "COMPLETE"})
        info = outcome.exception_info or {}
        error = info.get("exception_message") if info.get("raised_exception") else None
        result = outcome.result or {}
        indexes = result.get("unexpected_index_list") or []
        offending = (
            frame.loc[[i for i in indexes if i in frame.index], list(check.key_columns)]
            .drop_duplicates()
            .to_dict("records")
        )
        results.append(
            CheckResult(
                suite=suite.name,
                description=check.description,
                expectation=check.expectation.expectation_type,
                success=bool(outcome.success) and error is None,
                unexpected_count=int(result.get("unexpected_count") or 0),
                offending_rows=[{k: _plain(v) for k, v in row.items()} for row in offending],
                error=error,
            )
        )
    return results


def validate_raw(
    first: date,
    last: date,
    settings: Settings | None = None,
    run_id: str = "manual",
    suites: Sequence[Suite] = SUITES,
) -> ValidationReport:
    """Run every suite on the landings of days `first`..`last`; write the HTML reports;
    raise `ValidationFailed` if any check failed, else return the report."""
    if first > last:
        raise ValueError(f"validate_raw: first day {first} is after last day {last}")
    settings = settings or get_settings()
    out_dir = validation_dir(settings, run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    with warehouse.connect(settings) as wh:
        frames = {suite.name: suite.read(wh, first, last, settings) for suite in suites}
    results = []
    for suite in suites:
        frame = frames[suite.name]
        checks = run_suite(suite, frame, first, last, settings)
        path = out_dir / f"{suite.name}.html"
        suite_result = SuiteResult(suite.name, len(frame), checks, path)
        path.write_text(
            render_html(suite_result, _days_text(first, last), run_id), encoding="utf-8"
        )
        results.append(suite_result)
        log.info(
            "quality gate %s: %d rows, %s",
            suite.name,
            len(frame),
            "ok" if suite_result.success else "FAILED",
        )
    report = ValidationReport(first, last, results)
    if not report.success:
        raise ValidationFailed(report)
    return report


def validation_dir(settings: Settings, run_id: str) -> Path:
    """`<var_dir>/validation/<run_id>`; the run id made safe as a directory name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("._") or "run"
    return Path(settings.var_dir) / "validation" / safe


# --- rendering ---------------------------------------------------------------------


def _days_text(first: date, last: date) -> str:
    return str(first) if first == last else f"{first} … {last}"


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    return value


def _row_text(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value_text(v)}" for k, v in row.items())


def _value_text(value: Any) -> str:
    if isinstance(value, datetime) and value.time() == time.min:
        return value.date().isoformat()
    return str(value)


def render_html(suite: SuiteResult, days: str, run_id: str) -> str:
    """A self-contained page: every check of the suite, and each failed check's rows."""
    esc = html.escape
    status = "passed" if suite.success else "FAILED"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(suite.name)} {esc(days)}: {status}</title>",
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;"
        "padding:4px 8px}table{border-collapse:collapse;margin-bottom:1em}"
        ".fail{color:#b00}.ok{color:#070}</style></head><body>",
        f"<h1>Quality gate: {esc(suite.name)}</h1>",
        f"<p>days {esc(days)} · run {esc(run_id)} · {suite.rows} row(s) checked · "
        f"<b class='{'ok' if suite.success else 'fail'}'>{status}</b></p>",
        "<table><tr><th>check</th><th>expectation</th><th>result</th><th>offending rows</th></tr>",
    ]
    for check in suite.checks:
        if check.error:
            result = f"<span class='fail'>error: {esc(check.error)}</span>"
        elif check.success:
            result = "<span class='ok'>ok</span>"
        else:
            result = f"<span class='fail'>{check.unexpected_count} row(s)</span>"
        parts.append(
            f"<tr><td>{esc(check.description)}</td><td><code>{esc(check.expectation)}</code></td>"
            f"<td>{result}</td><td>{len(check.offending_rows) or ''}</td></tr>"
        )
    parts.append("</table>")
    for check in suite.checks:
        if not check.offending_rows:
            continue
        columns = list(check.offending_rows[0])
        parts.append(f"<h2 class='fail'>{esc(check.description)}</h2><table><tr>")
        parts += [f"<th>{esc(c)}</th>" for c in columns]
        parts.append("</tr>")
        for row in check.offending_rows:
            cells = "".join(f"<td>{esc(_value_text(row[c]))}</td>" for c in columns)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
