"""The `callpath` command line: a map of the product."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="callpath: dynamic call tracking and end-to-end marketing analytics.",
    no_args_is_help=True,
    add_completion=False,
)
pipeline_app = typer.Typer(help="Run the daily analytics job without an Airflow UI.")
app.add_typer(pipeline_app, name="pipeline")
console = Console()


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (default CALLPATH_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CALLPATH_PORT)."),
) -> None:
    """Run the realtime service: visits, tracking numbers, Mango webhooks."""
    import uvicorn

    from realtime.app import create_app
    from realtime.settings import get_settings

    settings = get_settings()
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)


@app.command()
def demo(
    days: int = typer.Option(7, min=1, max=31, help="How many past days to simulate."),
) -> None:
    """Seed a demo company, drive a synthetic week through the API, build the report."""
    from pipelines.orchestration import run_daily_dag

    from realtime import demo as demo_mod
    from realtime.settings import get_settings

    settings = get_settings()
    today = datetime.now(ZoneInfo(demo_mod.TZ)).date()
    week = demo_mod.demo_days(today, days)
    demo_mod.reset(settings)
    with console.status("Seeding company, site and number inventory…"):
        demo_mod.seed(settings)
    with console.status(f"Driving {days} days of visits and Mango calls through the API…"):
        result = demo_mod.simulate_week(settings, week)
    console.print(
        f"Simulated {result.sessions} sessions, {result.calls} calls, {result.deals} deals "
        f"over {week[0]} … {week[-1]}."
    )
    for day in track_days(week, "Running the Airflow DAG callpath_daily"):
        run_daily_dag(day, settings)
    print_e2e(settings)


def track_days(days: list[date], description: str):
    from rich.progress import track

    return track(days, description=description, console=console)


def print_e2e(settings) -> None:
    import duckdb

    conn = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = conn.execute(
            """
            select channel, coalesce(utm_source, '') as source,
                   coalesce(utm_campaign, '') as campaign,
                   sum(sessions), sum(calls), sum(leads), sum(deals), sum(revenue), sum(cost)
            from published.e2e_daily
            group by all order by sum(sessions) desc, channel, campaign
            """
        ).fetchall()
    finally:
        conn.close()
    table = Table(title="End-to-end report (published.e2e_daily, whole period)")
    for col in (
        "channel",
        "source",
        "campaign",
        "sessions",
        "calls",
        "leads",
        "deals",
        "revenue ₽",
        "cost ₽",
        "CPL ₽",
        "ROI",
    ):
        table.add_column(
            col, justify="left" if col in ("channel", "source", "campaign") else "right"
        )
    for channel, source, campaign, sessions, calls, leads, deals, revenue, cost in rows:
        cpl = f"{cost / leads:,.0f}" if leads and cost else "—"
        roi = f"{(revenue - cost) / cost:+.0%}" if cost else "—"
        table.add_row(
            channel,
            source,
            campaign,
            str(sessions),
            str(calls),
            str(leads),
            str(deals),
            f"{revenue:,.0f}",
            f"{cost:,.0f}",
            cpl,
            roi,
        )
    console.print(table)
    console.print(
        f"Warehouse: [bold]{settings.warehouse_path.resolve()}[/bold] "
        f"(open with `duckdb {settings.warehouse_path}` and query published.e2e_daily)"
    )


@pipeline_app.command("run")
def pipeline_run(
    day: datetime = typer.Option(..., "--date", formats=["%Y-%m-%d"], help="Day to build."),
) -> None:
    """Run the daily DAG in-process for one day."""
    from pipelines.orchestration import run_daily_dag

    from realtime.settings import get_settings

    state = run_daily_dag(day.date(), get_settings())
    console.print(f"callpath_daily {day.date()}: {state}")


if __name__ == "__main__":
    app()
