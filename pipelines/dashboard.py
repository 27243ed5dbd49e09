"""The analysts' dashboard: one self-contained HTML file over the published marts.

`write_dashboard(settings)` reads the warehouse (DuckDB or PostgreSQL, whichever
`settings.warehouse` names) and writes `reports/dashboard.html`: tables and charts
with every plot embedded as a base64 PNG, and no script, stylesheet or font from
anywhere else, so the file opens offline and can be mailed as it is.

Sections:

- e2e table by channel and campaign, with CPL / CAC / ROI / ROAS (`e2e_daily`);
- daily trend of leads, revenue and cost (`e2e_daily`);
- funnel sessions → calls → leads → deals (`e2e_daily`);
- attribution models side by side (`attribution`);
- calls by weekday and hour, a heat map (`fct_calls`, else `raw.calls`);
- pool health: utilisation, unattributed call rate, the advisor's size (`pool_daily`).

Marts are read from the `published` schema. A mart that is built but not (yet)
published is read from the dbt build schema, and the section says so; a mart that
does not exist yet renders as "not built yet" instead of failing the whole page.
Ratios are recomputed from summed measures (the CPL of a channel is its cost over
its leads, not the mean of daily CPLs).
"""

from __future__ import annotations

import base64
import html
import io
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipelines import warehouse
from pipelines.publish import PUBLISHED_SCHEMA
from pipelines.warehouse import Warehouse
from realtime.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("reports/dashboard.html")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MODEL_ORDER = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "position_based",
    "time_decay",
)
# Section ids, in page order; tests and the docs refer to them.
SECTIONS = ("e2e", "trend", "funnel", "attribution", "heatmap", "pool")


class NotBuilt(Exception):
    """A mart (or a column a section cannot do without) is not in the warehouse yet."""


@dataclass(frozen=True)
class Relation:
    """Where a mart was found: `qualified` is safe to put into SQL."""

    schema: str
    name: str
    columns: tuple[str, ...]
    published: bool

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def has(self, *names: str) -> bool:
        return all(n in self.columns for n in names)

    def first(self, *candidates: str) -> str | None:
        """The first of `candidates` this relation has (marts still taking shape name
        some columns differently; the issue-6 name comes first)."""
        return next((c for c in candidates if c in self.columns), None)


@dataclass
class Section:
    id: str
    title: str
    body: str
    note: str = ""


# --- reading ----------------------------------------------------------------------


def _columns(wh: Warehouse, schema: str, table: str) -> tuple[str, ...]:
    rows = wh.fetchall(
        "select column_name from information_schema.columns"
        " where table_schema = %s and table_name = %s order by ordinal_position",
        [schema, table],
    )
    return tuple(str(r[0]).lower() for r in rows)


def find_mart(wh: Warehouse, name: str, build_schema: str) -> Relation | None:
    """`published.<name>`, else `<build_schema>.<name>`, else None."""
    for schema, published in ((PUBLISHED_SCHEMA, True), (build_schema, False)):
        columns = _columns(wh, schema, name)
        if columns:
            return Relation(schema, name, columns, published)
    return None


def _num(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, Decimal):
        return float(value)
    return float(value)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _date_filter(
    rel: Relation, column: str | None, start: date | None, end: date | None, company: str | None
):
    """`where` for the period and the company (None: the warehouse holds one company, or
    the reader asked for all of them together)."""
    clauses, params = [], []
    if company is not None:
        if not rel.has("company_id"):
            raise NotBuilt(f"{rel.qualified} has no company_id, so it cannot show one company")
        clauses.append("company_id = %s")
        params.append(company)
    if column is None:
        start = end = None
    if start is not None:
        clauses.append(f"{column} >= %s")
        params.append(start)
    if end is not None:
        clauses.append(f"{column} <= %s")
        params.append(end)
    return (" where " + " and ".join(clauses)) if clauses else "", params


# --- rendering helpers ------------------------------------------------------------

e = html.escape


def _fmt_int(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}".replace(",", "\u202f")


def _fmt_money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}".replace(",", "\u202f")


def _fmt_pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.0%}" if signed else f"{value:.1%}"


def _fmt_x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 0) -> str:
    head = "".join(
        f'<th class="{"num" if i >= numeric_from else ""}">{e(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if i >= numeric_from else ""}">{e(c)}</td>'
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _plot(draw: Callable[[Any], None], width: float = 9.0, height: float = 3.6) -> str:
    """Run `draw(figure)` and return the figure as an embedded PNG <img>."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    draw(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="chart" alt="chart" src="data:image/png;base64,{data}">'


def _not_built(what: str) -> str:
    return f'<p class="not-built">Not built yet: {e(what)}.</p>'


def _source_note(rel: Relation) -> str:
    if rel.published:
        return f"Source: {rel.qualified}."
    return f"Source: {rel.qualified} (built, not yet published)."


# --- sections ---------------------------------------------------------------------


def _e2e_section(wh: Warehouse, rel: Relation | None, start, end, company) -> Section:
    title = "End-to-end report by channel and campaign"
    if rel is None:
        return Section("e2e", title, _not_built("the e2e_daily mart"))
    campaign = rel.first("campaign_name", "utm_campaign")
    measures = [
        m
        for m in ("sessions", "calls", "leads", "deals", "won_deals", "revenue", "cost")
        if rel.has(m)
    ]
    if not rel.has("channel", "report_date") or not {"leads", "cost"} <= set(measures):
        raise NotBuilt(f"{rel.qualified} lacks channel, report_date, leads or cost")
    keys = ["channel", "utm_source" if rel.has("utm_source") else "''", campaign or "''"]
    where, params = _date_filter(rel, "report_date", start, end, company)
    sums = ", ".join(f"sum({m})" for m in measures)
    rows = wh.fetchall(
        f"select {', '.join(keys)}, {sums} from {rel.qualified}{where}"
        f" group by 1, 2, 3 order by sum(cost) desc, sum(leads) desc, 1, 2, 3",
        params,
    )
    headers = ["channel", "source", "campaign", *measures, "CPL", "CAC", "ROI", "ROAS"]
    out = []
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        values = dict(zip(measures, (_num(v) for v in row[3:]), strict=True))
        for k, v in values.items():
            totals[k] += v
        out.append([str(row[0] or ""), str(row[1] or ""), str(row[2] or ""),
                    *_measure_cells(values, measures)])  # fmt: skip
    if out:
        out.append(["total", "", "", *_measure_cells(totals, measures)])
    body = _table(headers, out, numeric_from=3) if out else "<p>No rows in this period.</p>"
    if "won_deals" not in measures:
        body += '<p class="note">CAC needs won_deals, which this e2e_daily lacks.</p>'
    return Section("e2e", title, body, _source_note(rel))


def _measure_cells(values: dict[str, float], measures: list[str]) -> list[str]:
    cost, revenue = values.get("cost", 0.0), values.get("revenue", 0.0)
    cells = [
        _fmt_money(values[m]) if m in ("revenue", "cost") else _fmt_int(values[m])
        for m in measures
    ]
    won = values.get("won_deals")
    cells += [
        _fmt_money(_ratio(cost, values.get("leads", 0.0))),
        _fmt_money(_ratio(cost, won)) if won is not None else "—",
        _fmt_pct(_ratio(revenue - cost, cost), signed=True),
        _fmt_x(_ratio(revenue, cost)),
    ]
    return cells


def _trend_section(wh: Warehouse, rel: Relation | None, start, end, company) -> Section:
    title = "Daily trend: leads, revenue and cost"
    if rel is None:
        return Section("trend", title, _not_built("the e2e_daily mart"))
    if not rel.has("report_date", "leads", "revenue", "cost"):
        raise NotBuilt(f"{rel.qualified} lacks report_date, leads, revenue or cost")
    where, params = _date_filter(rel, "report_date", start, end, company)
    rows = wh.fetchall(
        f"select report_date, sum(leads), sum(revenue), sum(cost) from {rel.qualified}{where}"
        " group by 1 order by 1",
        params,
    )
    if not rows:
        return Section("trend", title, "<p>No rows in this period.</p>", _source_note(rel))
    days = [r[0] for r in rows]
    leads = [_num(r[1]) for r in rows]
    revenue = [_num(r[2]) for r in rows]
    cost = [_num(r[3]) for r in rows]

    def draw(fig) -> None:
        ax = fig.subplots()
        ax.bar(days, leads, color="#c9d7ea", label="leads", width=0.6)
        ax.set_ylabel("leads")
        money = ax.twinx()
        money.plot(days, revenue, marker="o", color="#2a9d4b", label="revenue")
        money.plot(days, cost, marker="o", color="#d1495b", label="cost")
        money.set_ylabel("amount")
        money.set_ylim(bottom=0)
        handles = ax.get_legend_handles_labels()
        more = money.get_legend_handles_labels()
        ax.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)
        _date_axis(ax, days)

    table = _table(
        ["day", "leads", "revenue", "cost"],
        [[str(d), _fmt_int(lv), _fmt_money(rv), _fmt_money(cv)]
         for d, lv, rv, cv in zip(days, leads, revenue, cost, strict=True)],
        numeric_from=1,
    )  # fmt: skip
    body = _plot(draw) + f"<details><summary>Figures</summary>{table}</details>"
    return Section("trend", title, body, _source_note(rel))


def _funnel_section(wh: Warehouse, rel: Relation | None, start, end, company) -> Section:
    title = "Funnel: sessions → calls → leads → deals"
    if rel is None:
        return Section("funnel", title, _not_built("the e2e_daily mart"))
    stages = [s for s in ("sessions", "calls", "leads", "deals", "won_deals") if rel.has(s)]
    if not {"sessions", "leads"} <= set(stages):
        raise NotBuilt(f"{rel.qualified} lacks sessions or leads")
    where, params = _date_filter(rel, "report_date", start, end, company)
    row = wh.fetchone(
        f"select {', '.join(f'sum({s})' for s in stages)} from {rel.qualified}{where}", params
    )
    values = [_num(v) for v in (row or [])] or [0.0] * len(stages)
    labels = [s.replace("_", " ") for s in stages]

    def draw(fig) -> None:
        ax = fig.subplots()
        bars = ax.barh(labels[::-1], values[::-1], color="#4a78b5")
        top = max(values) or 1
        for bar, value in zip(bars, values[::-1], strict=True):
            ax.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2,
                    f"{value:,.0f}", va="center", fontsize=9)  # fmt: skip
        ax.set_xlim(0, top * 1.15)
        ax.set_xlabel("count in the period")

    # The issue-6 conversions: calls and leads per session (a lead can be a form, so
    # leads may outnumber calls), deals and won deals per lead.
    base_of = {"calls": "sessions", "leads": "sessions", "deals": "leads", "won_deals": "leads"}
    count = dict(zip(stages, values, strict=True))
    rows = []
    for stage, label, value in zip(stages, labels, values, strict=True):
        base = base_of.get(stage)
        rate = _ratio(value, count[base]) if base in count else None
        rows.append([label, _fmt_int(value), f"{_fmt_pct(rate)} of {base}" if base else ""])
    table = _table(["stage", "count", "conversion"], rows, numeric_from=1)
    note = (
        "Each measure is counted on its own day (sessions on the visit day, leads on their "
        "first touch, deals on their lead's day); a lead is a person's first call, form or "
        "callback request. " + _source_note(rel)
    )
    return Section("funnel", title, _plot(draw, height=2.8) + table, note)


def _attribution_section(wh: Warehouse, rel: Relation | None, start, end, company) -> Section:
    title = "Attribution models side by side"
    if rel is None:
        return Section("attribution", title, _not_built("the attribution mart"))
    leads = rel.first("attributed_leads", "leads")
    revenue = rel.first("attributed_revenue", "revenue")
    model = rel.first("attribution_model", "model")
    if model is None or not rel.has("channel") or leads is None:
        raise NotBuilt(f"{rel.qualified} lacks attribution_model, channel or attributed_leads")
    date_col = rel.first("report_date", "date_day")
    where, params = _date_filter(rel, date_col, start, end, company)
    revenue_sql = f"sum({revenue})" if revenue else "0"
    rows = wh.fetchall(
        f"select {model}, channel, sum({leads}), {revenue_sql} from {rel.qualified}{where}"
        " group by 1, 2 order by 1, 2",
        params,
    )
    if not rows:
        return Section("attribution", title, "<p>No rows in this period.</p>", _source_note(rel))
    by_model: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for model, channel, lv, rv in rows:
        by_model[str(model)][str(channel)] = (_num(lv), _num(rv))
    models = [m for m in MODEL_ORDER if m in by_model] + sorted(set(by_model) - set(MODEL_ORDER))
    channels = sorted({c for m in by_model.values() for c in m})
    use_revenue = any(rv for m in by_model.values() for _, rv in m.values())
    metric = "attributed revenue" if use_revenue else "attributed leads"
    pick = 1 if use_revenue else 0

    def draw(fig) -> None:
        ax = fig.subplots()
        width = 0.8 / max(len(models), 1)
        for i, model in enumerate(models):
            xs = [j + i * width for j in range(len(channels))]
            ys = [by_model[model].get(c, (0.0, 0.0))[pick] for c in channels]
            ax.bar(xs, ys, width=width, label=model)
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(channels))])
        ax.set_xticklabels(channels, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(metric)
        ax.legend(fontsize=8, ncols=3)

    table_rows = [
        [c, *(f"{by_model[m].get(c, (0.0, 0.0))[0]:.2f}" for m in models)] for c in channels
    ]
    table = _table(["channel (attributed leads)", *models], table_rows, numeric_from=1)
    if use_revenue:
        table += _table(
            ["channel (attributed revenue)", *models],
            [[c, *(_fmt_money(by_model[m].get(c, (0.0, 0.0))[1]) for m in models)]
             for c in channels],
            numeric_from=1,
        )  # fmt: skip
    return Section("attribution", title, _plot(draw) + table, _source_note(rel))


def _hour_of_week_counts(
    wh: Warehouse,
    rel: Relation,
    start: date | None,
    end: date | None,
    company: str | None,
    tz: ZoneInfo,
) -> dict[tuple[int, int], int]:
    """{(weekday, hour): inbound calls}. Calls are counted per UTC hour in SQL (so a
    year of calls stays a few thousand rows) and shifted to local time here."""
    started = rel.first("started_at", "call_started_at")
    if started is None:
        raise NotBuilt(f"{rel.qualified} lacks started_at")
    where, params = _date_filter(rel, None, None, None, company)
    clauses = [where.removeprefix(" where ")] if where else []
    if rel.has("direction"):
        clauses.append("direction = 'inbound'")
    elif rel.has("is_inbound"):
        clauses.append("is_inbound")
    # The local day range, widened by a day either side in UTC and trimmed afterwards.
    if start is not None:
        clauses.append(f"{started} >= %s")
        params.append(datetime.combine(start - timedelta(days=1), datetime.min.time()))
    if end is not None:
        clauses.append(f"{started} < %s")
        params.append(datetime.combine(end + timedelta(days=2), datetime.min.time()))
    where = (" where " + " and ".join(clauses)) if clauses else ""
    rows = wh.fetchall(
        f"select date_trunc('hour', {started}), count(*) from {rel.qualified}{where} group by 1",
        params,
    )
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for hour_utc, count in rows:
        local = hour_utc.replace(tzinfo=UTC).astimezone(tz)
        if (start and local.date() < start) or (end and local.date() > end):
            continue
        counts[(local.weekday(), local.hour)] += int(count)
    return counts


def _heatmap_section(
    wh: Warehouse, rel: Relation | None, start, end, company, tz: ZoneInfo
) -> Section:
    title = "Calls by weekday and hour"
    if rel is None:
        return Section("heatmap", title, _not_built("fct_calls (and no raw.calls)"))
    counts = _hour_of_week_counts(wh, rel, start, end, company, tz)
    grid = [[counts.get((d, h), 0) for h in range(24)] for d in range(7)]
    total = sum(map(sum, grid))
    note = f"Inbound calls, local time ({tz.key}). Source: {rel.qualified}."
    if total == 0:
        return Section("heatmap", title, "<p>No calls in this period.</p>", note)

    def draw(fig) -> None:
        ax = fig.subplots()
        image = ax.imshow(grid, aspect="auto", cmap="YlOrRd")
        ax.set_yticks(range(7), WEEKDAYS)
        ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
        ax.set_xlabel("hour")
        fig.colorbar(image, ax=ax, label="calls")

    busiest = max(((d, h) for d in range(7) for h in range(24)), key=lambda k: grid[k[0]][k[1]])
    summary = (
        f"<p>{_fmt_int(total)} inbound calls; the busiest hour is "
        f"{e(WEEKDAYS[busiest[0]])} {busiest[1]:02d}:00 ({grid[busiest[0]][busiest[1]]}).</p>"
    )
    return Section("heatmap", title, _plot(draw, height=3.0) + summary, note)


def _pool_section(wh: Warehouse, rel: Relation | None, start, end, company) -> Section:
    title = "Number pool health"
    if rel is None:
        return Section("pool", title, _not_built("the pool_daily mart"))
    date_col = rel.first("report_date", "date_day", "day")
    if date_col is None:
        raise NotBuilt(f"{rel.qualified} lacks report_date")
    # One line per company (when several are shown together), site and region.
    keys = ("site_id", "region") if company else ("company_id", "site_id", "region")
    group = [c for c in keys if rel.has(c)]
    fields = {
        "utilisation": rel.first("utilisation", "utilization", "peak_utilisation"),
        "unattributed": rel.first(
            "unattributed_call_rate", "unattributed_rate", "unattributed_calls_rate"
        ),
        "exhaustion": rel.first("exhaustion_events", "exhaustions"),
        "shared": rel.first("shared_leases"),
        "stray": rel.first("stray_calls"),
        "actual": rel.first("actual_size", "pool_size", "actual_pool_size", "numbers"),
        "recommended": rel.first("recommended_size", "advisor_recommended_size", "recommended"),
    }
    present = {k: v for k, v in fields.items() if v}
    if not present:
        raise NotBuilt(f"{rel.qualified} has none of the pool health columns")
    where, params = _date_filter(rel, date_col, start, end, company)
    select = ", ".join([date_col, *group, *present.values()])
    rows = wh.fetchall(
        f"select {select} from {rel.qualified}{where} order by {', '.join([date_col, *group])}",
        params,
    )
    if not rows:
        return Section("pool", title, "<p>No rows in this period.</p>", _source_note(rel))
    names = ["day", *group, *present]
    records = [dict(zip(names, r, strict=True)) for r in rows]

    # The latest day per site/region: what to do now.
    latest: dict[tuple, dict] = {}
    for rec in records:
        latest[tuple(rec[g] for g in group)] = rec
    advice_rows = []
    for key, rec in latest.items():
        advice_rows.append([
            str(rec["day"]), *(str(k or "") for k in key),
            _fmt_pct(_opt(rec.get("utilisation"))) if "utilisation" in present else "—",
            _fmt_pct(_opt(rec.get("unattributed"))) if "unattributed" in present else "—",
            _fmt_int(_opt(rec.get("actual"))) if "actual" in present else "—",
            _fmt_int(_opt(rec.get("recommended"))) if "recommended" in present else "—",
            _advice(_opt(rec.get("actual")), _opt(rec.get("recommended"))),
        ])  # fmt: skip
    advice = _table(
        ["day", *group, "utilisation", "unattributed calls", "numbers", "advisor's size",
         "recommendation"],
        advice_rows,
        numeric_from=1 + len(group),
    )  # fmt: skip

    plotted = [k for k in ("utilisation", "unattributed") if k in present]
    chart = ""
    if plotted:
        daily: dict[str, dict[Any, list[float]]] = {k: defaultdict(list) for k in plotted}
        for rec in records:
            for k in plotted:
                if rec[k] is not None:
                    daily[k][rec["day"]].append(_num(rec[k]))

        def draw(fig) -> None:
            ax = fig.subplots()
            worst = " (worst of the day)" if len(latest) > 1 else ""
            labels = {"utilisation": "utilisation", "unattributed": "unattributed calls"}
            labels = {k: v + worst for k, v in labels.items()}
            for k in plotted:
                days = sorted(daily[k])
                ax.plot(days, [max(daily[k][d]) for d in days], marker="o", label=labels[k])
            ax.set_ylim(0, 1.05)
            ax.yaxis.set_major_formatter(_percent_formatter())
            ax.legend(fontsize=8)
            _date_axis(ax, sorted({rec["day"] for rec in records}))

        chart = _plot(draw, height=2.8)
    history_names = [n for n in names if n not in ("actual", "recommended")] + [
        n for n in ("actual", "recommended") if n in names
    ]
    history = _table(
        history_names,
        [[_cell(rec[n], n) for n in history_names] for rec in records],
        numeric_from=1 + len(group),
    )
    body = advice + chart + f"<details><summary>Every day</summary>{history}</details>"
    return Section("pool", title, body, _source_note(rel))


def _opt(value: Any) -> float | None:
    return None if value is None else _num(value)


def _cell(value: Any, name: str) -> str:
    if value is None:
        return "—"
    if name in ("utilisation", "unattributed"):
        return _fmt_pct(_num(value))
    if isinstance(value, int | float | Decimal):
        return _fmt_int(_num(value))
    return str(value)


def _advice(actual: float | None, recommended: float | None) -> str:
    if actual is None or recommended is None:
        return "—"
    gap = round(recommended - actual)
    if gap > 0:
        return f"add {gap} number(s)"
    if gap < 0:
        return f"{-gap} number(s) could go"
    return "the size is right"


def _date_axis(ax, days: Sequence[date]) -> None:
    """Day ticks (never hours: the marts are daily) that stay readable up to a year."""
    import matplotlib.dates as mdates

    span = (max(days) - min(days)).days + 1 if days else 1
    if span <= 92:
        locator = mdates.DayLocator(interval=max(1, -(-span // 10)))
    else:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if span == 1 and days:
        # One day alone: matplotlib widens the axis by years around a single point,
        # and the day locator then asks for 1,600 ticks (a warning each draw).
        ax.set_xlim(min(days) - timedelta(days=1), max(days) + timedelta(days=1))


def _percent_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0)


# --- the page ---------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 color:#1d2330;background:#f5f6f8}
header{background:#1d2f4f;color:#fff;padding:16px 28px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.8}
main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border-radius:8px;padding:14px 20px;margin:16px 0;
 box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:17px;margin:4px 0 10px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{padding:4px 9px;border-bottom:1px solid #e3e6eb;text-align:left;white-space:nowrap}
th{background:#f0f2f5}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
img.chart{max-width:100%;display:block;margin:6px 0}
.note{color:#5b6473;font-size:12px}.not-built{color:#8a5a00;background:#fff6e0;
 padding:8px 12px;border-radius:6px}.error{color:#9b1c1c;background:#fdecec;padding:8px 12px}
nav a{color:#cfe0ff;margin-right:14px;text-decoration:none}
"""


def _page(sections: list[Section], subtitle: str) -> str:
    nav = "".join(f'<a href="#{s.id}">{e(s.title.split(":")[0])}</a>' for s in sections)
    parts = []
    for s in sections:
        note = f'<p class="note">{e(s.note)}</p>' if s.note else ""
        parts.append(
            f'<section id="{e(s.id)}" data-section="{e(s.id)}"><h2>{e(s.title)}</h2>'
            f"{s.body}{note}</section>"
        )
    # The data: icon keeps browsers from asking for /favicon.ico next to the file.
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>callpath dashboard</title><style>{CSS}</style></head><body>"
        f"<header><h1>callpath dashboard</h1><p>{e(subtitle)}</p><nav>{nav}</nav></header>"
        f"<main>{''.join(parts)}</main></body></html>\n"
    )


def _guarded(section_id: str, title: str, build: Callable[[], Section]) -> Section:
    """One section's failure shows in that section; the rest of the page still renders."""
    try:
        return build()
    except NotBuilt as exc:
        return Section(section_id, title, _not_built(str(exc)))
    except Exception as exc:
        log.exception("dashboard section %s failed", section_id)
        message = f"Could not render this section: {type(exc).__name__}: {exc}"
        return Section(section_id, title, f'<p class="error">{e(message)}</p>')


def companies_in(wh: Warehouse, rel: Relation | None) -> list[str]:
    if rel is None or not rel.has("company_id"):
        return []
    rows = wh.fetchall(f"select distinct company_id from {rel.qualified} order by 1")
    return [str(r[0]) for r in rows if r[0] is not None]


def render_dashboard(
    wh: Warehouse,
    build_schema: str,
    date_from: date | None,
    date_to: date | None,
    tz: ZoneInfo,
    company_id: str | None = None,
) -> str:
    """The dashboard page for an open warehouse connection: one company's figures when
    `company_id` is given or the warehouse holds one company, else all together."""
    e2e = find_mart(wh, "e2e_daily", build_schema)
    attribution = find_mart(wh, "attribution", build_schema)
    pool = find_mart(wh, "pool_daily", build_schema)
    calls = find_mart(wh, "fct_calls", build_schema)
    if calls is None or not calls.first("started_at", "call_started_at"):
        raw_columns = _columns(wh, "raw", "calls")
        calls = Relation("raw", "calls", raw_columns, False) if raw_columns else None
    known = companies_in(wh, e2e) or companies_in(wh, calls)
    if company_id is not None:
        who, company = f"company {company_id}", company_id
    elif len(known) > 1:
        # Marts without a company column cannot be split, so "all" is the honest view.
        who, company = f"all {len(known)} companies together ({', '.join(known)})", None
    else:
        who, company = f"company {known[0]}" if known else "no data yet", None
    start, end = date_from, date_to
    sections = [
        _guarded("e2e", "End-to-end report", lambda: _e2e_section(wh, e2e, start, end, company)),
        _guarded("trend", "Daily trend", lambda: _trend_section(wh, e2e, start, end, company)),
        _guarded("funnel", "Funnel", lambda: _funnel_section(wh, e2e, start, end, company)),
        _guarded(
            "attribution",
            "Attribution models",
            lambda: _attribution_section(wh, attribution, start, end, company),
        ),
        _guarded(
            "heatmap",
            "Calls by weekday and hour",
            lambda: _heatmap_section(wh, calls, start, end, company, tz),
        ),
        _guarded(
            "pool", "Number pool health", lambda: _pool_section(wh, pool, start, end, company)
        ),
    ]
    period = f"{date_from or 'first day'} … {date_to or 'last day'}"
    engine = "PostgreSQL" if wh.engine == "postgres" else "DuckDB"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return _page(
        sections, f"{who} · period {period} · {engine} warehouse · generated {generated}"
    )


def write_dashboard(
    settings: Settings,
    date_from: date | None = None,
    date_to: date | None = None,
    out: Path = DEFAULT_OUT,
    company_id: str | None = None,
) -> Path:
    """Write the dashboard for [date_from, date_to] (inclusive; None = open) to `out`,
    atomically (a reader never sees half a file); returns the path written.
    `company_id` limits it to one company (needed when the warehouse holds several)."""
    if date_from and date_to and date_from > date_to:
        raise ValueError(f"date_from {date_from} is after date_to {date_to}")
    tz = ZoneInfo(settings.default_timezone)
    with warehouse.connect(settings) as wh:
        page = render_dashboard(
            wh, warehouse.dbt_build_schema(settings), date_from, date_to, tz, company_id
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(out)
    return out
