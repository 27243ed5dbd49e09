"""The `callpath` command line: a map of the product."""

from __future__ import annotations

import warnings
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

MAP = """callpath: dynamic call tracking and end-to-end marketing analytics.

[bold]Try it[/bold]: [cyan]callpath demo[/cyan] (a synthetic week, then the e2e report), then \
[cyan]callpath report[/cyan] for the dashboard.

[bold]Set up a client[/bold]: [cyan]company create[/cyan] → [cyan]company add-site[/cyan] → \
[cyan]numbers import[/cyan] → [cyan]keys create[/cyan]; point Mango at /mango.

[bold]Run[/bold]: [cyan]serve[/cyan] (widget, visits, Mango webhooks, REST API, /live), \
[cyan]webhooks work[/cyan], daily [cyan]pool maintain[/cyan].

[bold]Analyse[/bold]: [cyan]pipeline run[/cyan] / [cyan]pipeline backfill[/cyan] build the \
marts; [cyan]report[/cyan] writes reports/dashboard.html.

Settings come from CALLPATH_* variables or .env (README, Configuration)."""

SETUP, RUN, ANALYSE = "Set up a client", "Run the service", "Analytics"


class _CallpathGroup(TyperGroup):
    """Turns misconfiguration into one line naming the variable to fix, without a stack
    trace; anything else (a bug) still shows its traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            message = user_error(exc)
            if message is None:
                raise
            raise fail(message) from None


app = typer.Typer(
    cls=_CallpathGroup,
    help=MAP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
pipeline_app = typer.Typer(help="Build the marts: the daily job in-process, no Airflow UI needed.")
numbers_app = typer.Typer(help="The platform's tracking-number inventory (CSV import).")
pool_app = typer.Typer(help="Number pool housekeeping: release idle numbers (run daily).")
keys_app = typer.Typer(help="Company API keys for the REST API and the /live page.")
company_app = typer.Typer(help="Companies (tenants) and their sites.")
webhooks_app = typer.Typer(help="Outgoing webhooks: deliver queued call and lead events.")
crm_app = typer.Typer(help="CRM data the realtime service needs (smart redirect).")
app.add_typer(company_app, name="company", rich_help_panel=SETUP)
app.add_typer(numbers_app, name="numbers", rich_help_panel=SETUP)
app.add_typer(keys_app, name="keys", rich_help_panel=SETUP)
app.add_typer(pool_app, name="pool", rich_help_panel=RUN)
app.add_typer(webhooks_app, name="webhooks", rich_help_panel=RUN)
app.add_typer(crm_app, name="crm", rich_help_panel=RUN)
app.add_typer(pipeline_app, name="pipeline", rich_help_panel=ANALYSE)
console = Console()
err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """A user error: one line saying what to do, no stack trace."""
    from rich.markup import escape  # messages quote user input and "[account]" tags

    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def user_error(exc: Exception) -> str | None:
    """The one-line message for an error the user fixes in the configuration or the
    environment, or None for anything else."""
    from pydantic import ValidationError

    from connectors.base import SourceError
    from realtime.errors import CallpathError
    from realtime.store.base import StoreError

    if isinstance(exc, ValidationError):
        prefix = "CALLPATH_" if exc.title == "Settings" else ""
        problems = "; ".join(
            f"{prefix}{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" + _shown_input(e)
            for e in exc.errors()
        )
        return f"invalid configuration: {problems}. Fix it in the environment or .env."
    if isinstance(exc, CallpathError):
        return exc.message
    if isinstance(exc, SourceError | StoreError):
        return str(exc)
    # Our own configuration checks name the variable first, e.g. CALLPATH_WAREHOUSE=…
    if isinstance(exc, ValueError) and str(exc).startswith("CALLPATH_"):
        return str(exc)
    return _unreachable_service(exc)


def _shown_input(error: dict) -> str:
    """The offending value, unless it is missing or may hold a secret (a DSN, a key)."""
    name = "_".join(map(str, error["loc"])).lower()
    secret = any(word in name for word in ("dsn", "url", "key", "token", "secret", "password"))
    return "" if error["type"] == "missing" or secret else f" (got {error['input']!r})"


def _unreachable_service(exc: Exception) -> str | None:
    """A store or warehouse that is down or locked: which one, and the variable."""
    from realtime.settings import get_settings

    kind = f"{type(exc).__module__}.{type(exc).__name__}"
    first_line = (str(exc).strip().splitlines() or [""])[0]
    if kind.startswith("psycopg") and type(exc).__name__ == "OperationalError":
        return (
            f"cannot connect to the PostgreSQL warehouse ({first_line}): check that it runs "
            f"and CALLPATH_WAREHOUSE_POSTGRES_DSN"
        )
    if kind.startswith("redis.") and "ConnectionError" in type(exc).__name__:
        return f"cannot reach Redis ({first_line}): check that it runs and CALLPATH_POOL_STORE_URL"
    if kind.startswith("pymongo.") and type(exc).__name__ in (
        "ServerSelectionTimeoutError",
        "ConnectionFailure",
    ):
        return "cannot reach MongoDB: check that it runs and CALLPATH_EVENT_STORE_URL"
    if kind.startswith(("duckdb", "_duckdb")) and "lock" in first_line.lower():
        return (
            f"the DuckDB warehouse {get_settings().warehouse_path} is open in another process "
            "(DuckDB allows one writer): wait for it to finish or stop it"
        )
    return None


@company_app.command("create")
def company_create(
    company_id: str = typer.Option(..., "--id", help="Short id, e.g. acme."),
    name: str = typer.Option(..., help="Display name."),
    timezone: str = typer.Option("Europe/Moscow", help="IANA time zone for daily reports."),
    mango_key: str | None = typer.Option(None, help="Mango VPBX API key (vpbx_api_key)."),
    mango_salt: str | None = typer.Option(None, help="Mango VPBX API salt (signing secret)."),
) -> None:
    """Create a company (a tenant)."""
    from realtime.domain import Company
    from realtime.settings import get_settings
    from realtime.store import StoreError, open_event_store

    store = open_event_store(get_settings())
    try:
        store.create_company(
            Company(
                id=company_id,
                name=name,
                timezone=timezone,
                mango_api_key=mango_key,
                mango_api_salt=mango_salt,
            )
        )
    except StoreError as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()
    console.print(f"Created company [bold]{company_id}[/bold].")


@company_app.command("add-site")
def company_add_site(
    company_id: str = typer.Option(..., "--company", help="Company id."),
    site_key: str = typer.Option(..., help="Public key the widget sends (data-site)."),
    domain: str = typer.Option(..., help="The site's domain."),
    default_region: str = typer.Option("RU-MOW", help="Region when the visitor's has no numbers."),
    home_region: str | None = typer.Option(None, help="Show this region's numbers to everyone."),
    fallback_number: str | None = typer.Option(
        None, help="Shown to bots and when the pool is dry."
    ),
    exhaustion_policy: str = typer.Option("shared", help="shared | fallback"),
    hold_minutes: int = typer.Option(20, help="Minutes a quiet session keeps its number."),
) -> None:
    """Add a site to a company."""
    from realtime.domain import Site, new_id
    from realtime.phones import to_e164
    from realtime.settings import get_settings
    from realtime.store import StoreError, open_event_store

    fallback = to_e164(fallback_number) if fallback_number else None
    if fallback_number and fallback is None:
        raise fail(f"--fallback-number {fallback_number!r} is not a valid phone number")
    if exhaustion_policy not in ("shared", "fallback"):
        raise fail("--exhaustion-policy must be shared or fallback")
    store = open_event_store(get_settings())
    try:
        if store.get_company(company_id) is None:
            raise fail(f"company {company_id!r} does not exist: run `callpath company create`")
        site = Site(
            id=new_id("site"),
            company_id=company_id,
            site_key=site_key,
            domain=domain,
            default_region=default_region,
            home_region=home_region,
            fallback_number=fallback,
            exhaustion_policy=exhaustion_policy,
            hold_minutes=hold_minutes,
        )
        store.create_site(site)
    except StoreError as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()
    console.print(f"Added site [bold]{site.id}[/bold] (key {site_key}).")


@numbers_app.command("import")
def numbers_import(
    path: Path = typer.Argument(..., help="CSV: number,region,city_code,kind,company_id,channel"),
) -> None:
    """Load numbers into the inventory; bad rows are reported by line, good ones kept."""
    from realtime.pool import open_pool_store
    from realtime.pool.inventory import parse_inventory_csv
    from realtime.settings import get_settings

    if not path.exists():
        raise fail(f"{path} does not exist")
    numbers, errors = parse_inventory_csv(path)
    pool = open_pool_store(get_settings())
    try:
        added = pool.import_numbers(numbers)
    finally:
        pool.close()
    for error in errors:
        err.print(f"{path}:{error.line}: {error.message}")
    console.print(
        f"Imported {added} new number(s); {len(numbers) - added} already known; "
        f"{len(errors)} bad row(s)."
    )
    if errors:
        raise typer.Exit(code=1)


@pool_app.command("maintain")
def pool_maintain() -> None:
    """Release bindings idle for 14 days into quarantine (run daily)."""
    from realtime.domain import utcnow
    from realtime.pool import open_pool_store
    from realtime.settings import get_settings

    settings = get_settings()
    pool = open_pool_store(settings)
    try:
        released = pool.sweep(utcnow(), settings.pool_policy())
    finally:
        pool.close()
    for r in released:
        console.print(
            f"{r.number}: released from {r.company_id}, quarantined until "
            f"{r.quarantine_until:%Y-%m-%d}"
        )
    console.print(f"Released {len(released)} number(s).")


@crm_app.command("sync-contacts")
def crm_sync_contacts(
    days: int = typer.Option(
        3650, min=1, help="Contacts changed in the last N days (default: all of them)."
    ),
) -> None:
    """Copy CRM contacts (phone → responsible manager) into the event store for smart
    redirect, from every configured amoCRM and Bitrix24 account (`docs/redirect.md`)."""
    from datetime import timedelta

    from connectors.registry import crm_connectors
    from realtime.domain import utcnow
    from realtime.redirect.crm_sync import sync_contacts
    from realtime.settings import get_settings
    from realtime.store import open_event_store

    connectors = crm_connectors()
    if not connectors:
        raise fail("no CRM configured: set CALLPATH_AMOCRM_* or CALLPATH_BITRIX24_*")
    store = open_event_store(get_settings())
    try:
        counts = sync_contacts(store, connectors, utcnow() - timedelta(days=days))
    finally:
        store.close()
        for connector in connectors:
            connector.close()
    for name, count in counts.items():
        console.print(f"{name}: {count} contact(s) synced")


@keys_app.command("create")
def keys_create(
    company_id: str = typer.Option(..., "--company", help="Company id."),
    label: str = typer.Option("", help="What the key is for."),
) -> None:
    """Create an API key. The key is printed once and never stored in plain text."""
    from realtime.auth.service import create_key
    from realtime.errors import CallpathError
    from realtime.settings import get_settings
    from realtime.store import open_event_store

    store = open_event_store(get_settings())
    try:
        record, plaintext = create_key(store, company_id, label)
    except CallpathError as exc:
        raise fail(exc.message) from None
    finally:
        store.close()
    console.print(f"key id {record.id} for {company_id}:")
    print(plaintext)


@keys_app.command("revoke")
def keys_revoke(
    company_id: str = typer.Option(..., "--company", help="Company id."),
    key_id: str = typer.Option(..., "--id", help="The key id printed at creation."),
) -> None:
    """Revoke an API key at once."""
    from realtime.auth.service import revoke_key
    from realtime.domain import utcnow
    from realtime.errors import CallpathError
    from realtime.settings import get_settings
    from realtime.store import open_event_store

    store = open_event_store(get_settings())
    try:
        revoke_key(store, company_id, key_id, utcnow())
    except CallpathError as exc:
        raise fail(exc.message) from None
    finally:
        store.close()
    console.print(f"Revoked key {key_id}.")


@app.command(rich_help_panel=RUN)
def serve(
    host: str | None = typer.Option(None, help="Bind address (default CALLPATH_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CALLPATH_PORT)."),
) -> None:
    """Run the realtime service: visits, tracking numbers, Mango webhooks."""
    import uvicorn

    from realtime.app import create_app
    from realtime.settings import get_settings

    settings = get_settings()
    # Keep idle connections longer than the 60 s load balancers and PBX clients commonly
    # reuse them for: uvicorn's 5 s default races with reuse and resets requests.
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        timeout_keep_alive=75,
    )


@app.command(rich_help_panel=ANALYSE)
def demo(
    days: int = typer.Option(7, min=1, max=31, help="How many past days to simulate."),
) -> None:
    """Seed a demo company, drive a synthetic week through the API, build the report."""
    # Starlette nags about its httpx transport; the demo's in-process client is fine.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
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
        f"Simulated {result.sessions} sessions, {result.calls} calls, "
        f"{result.form_requests} forms and callback requests, {result.deals} deals "
        f"over {week[0]} … {week[-1]}; {result.webhooks_received} webhooks delivered to a "
        f"local receiver."
    )
    # The DAG's connectors pull from local fakes of the four sources, over their protocols.
    with demo_mod.serve_demo_sources(settings, result):
        run_days(week, settings)
    print_e2e(settings)
    from pipelines.dashboard import write_dashboard

    with console.status("Drawing the dashboard…"):
        dashboard = write_dashboard(settings, week[0], week[-1], out=settings.dashboard_path)
    console.print(f"Dashboard: [bold]{dashboard.resolve()}[/bold] (open it in a browser)")


def run_days(days: list[date], settings) -> None:
    """Run the daily DAGs in-process with a rich progress bar per day (one step per
    source DAG), then one for the analytics build over all the days."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipelines import orchestration

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[dag]}"),
    )
    sources = orchestration.SOURCE_DAG_IDS
    with Progress(*columns, console=console) as progress:
        bars = {  # each bar's clock starts when its day does
            day: progress.add_task(str(day), total=len(sources), dag=sources[0], start=i == 0)
            for i, day in enumerate(days)
        }
        build = progress.add_task(
            "build + publish", total=1, dag=orchestration.BUILD_DAG_ID, start=False
        )

        def done(result) -> None:
            if result.dag_id == orchestration.BUILD_DAG_ID:
                progress.update(build, advance=1, dag="published")
                return
            following = sources.index(result.dag_id) + 1
            label = sources[following] if following < len(sources) else "landed"
            progress.update(bars[result.day], advance=1, dag=label)
            if following == len(sources):  # the day has landed: start the next clock
                later = [day for day in days if day > result.day]
                progress.start_task(bars[later[0]] if later else build)

        orchestration.run_days(days, settings, on_dag_done=done)


def print_e2e(settings) -> None:
    from pipelines import warehouse

    with warehouse.connect(settings) as wh:
        rows = wh.fetchall(
            """
            select channel, coalesce(utm_source, '') as source,
                   coalesce(utm_campaign, '') as campaign,
                   sum(sessions), sum(calls), sum(leads), sum(deals), sum(revenue), sum(cost)
            from published.e2e_daily
            group by 1, 2, 3 order by sum(sessions) desc, channel, campaign
            """
        )
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
    # Wide enough for every column even when stdout is not a terminal (CI logs, pipes).
    out = console if console.is_terminal and console.width >= 120 else Console(width=150)
    out.print(table)
    if settings.warehouse == "duckdb":
        console.print(
            f"Warehouse: [bold]{settings.warehouse_path.resolve()}[/bold] "
            f"(open with `duckdb {settings.warehouse_path}` and query published.e2e_daily)"
        )
    else:
        console.print("Warehouse: PostgreSQL, table published.e2e_daily")


@app.command("report", rich_help_panel=ANALYSE)
def report(
    start: datetime | None = typer.Option(
        None, "--from", formats=["%Y-%m-%d"], help="First day (default: the marts' first)."
    ),
    end: datetime | None = typer.Option(
        None, "--to", formats=["%Y-%m-%d"], help="Last day, inclusive (default: the last)."
    ),
    out: Path | None = typer.Option(
        None, help="The HTML file to write (default: CALLPATH_DASHBOARD_PATH)."
    ),
    company: str | None = typer.Option(
        None, help="One company's figures (default: the only one, or all together)."
    ),
) -> None:
    """Write the dashboard, one offline HTML file (reports/dashboard.html by default).

    It shows the e2e table, the daily trend, the funnel, the attribution models, the
    calls heat map and pool health; how to read it: docs/analyst.md."""
    first, last = (start.date() if start else None), (end.date() if end else None)
    if first and last and first > last:
        raise fail(f"--from {first} is after --to {last}")
    from pipelines.dashboard import write_dashboard
    from realtime.settings import get_settings

    with console.status("Reading the marts and drawing the charts…"):
        settings = get_settings()
        path = write_dashboard(settings, first, last, out or settings.dashboard_path, company)
    console.print(f"Dashboard written to [bold]{path}[/bold] (open it in a browser).")


@pipeline_app.command("run")
def pipeline_run(
    day: datetime = typer.Option(..., "--date", formats=["%Y-%m-%d"], help="Day to build."),
) -> None:
    """Run the daily DAGs in-process for one day (extract, spend, deals, then the build)."""
    from pipelines.orchestration import PipelineRunError
    from realtime.settings import get_settings

    try:
        run_days([day.date()], get_settings())
    except PipelineRunError as exc:
        err.print(f"[red]failed:[/red] {exc}")
        raise typer.Exit(code=1) from None
    console.print(f"{day.date()}: every DAG succeeded, marts published")


@pipeline_app.command("backfill")
def pipeline_backfill(
    start: datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"], help="First day to build."),
    end: datetime = typer.Option(..., "--to", formats=["%Y-%m-%d"], help="Last day (inclusive)."),
) -> None:
    """Run the daily DAGs in-process for every day from --from to --to, in order."""
    from datetime import timedelta

    first, last = start.date(), end.date()
    if first > last:
        raise fail(f"--from {first} is after --to {last}")
    from pipelines.orchestration import PipelineRunError
    from realtime.settings import get_settings

    settings = get_settings()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    try:
        run_days(days, settings)
    except PipelineRunError as exc:
        err.print(f"[red]failed:[/red] {exc}")
        raise typer.Exit(code=1) from None
    console.print(f"{first} … {last}: {len(days)} day(s) built and published")


@webhooks_app.command("work")
def webhooks_work(
    once: bool = typer.Option(False, "--once", help="Deliver what is due now, then exit."),
) -> None:
    """Deliver webhooks in this process (run with CALLPATH_WEBHOOKS_WORKER_ENABLED=false
    on the service, or alongside it: claims keep workers from sending a message twice)."""
    import asyncio
    import signal

    from realtime.clock import SystemClock
    from realtime.settings import get_settings
    from realtime.store import open_event_store
    from realtime.webhooks.worker import WebhookWorker

    settings = get_settings()
    store = open_event_store(settings)

    async def work() -> int:
        worker = WebhookWorker(store, SystemClock(), None, settings)
        try:
            if once:
                return await worker.run_once()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            console.print("Delivering webhooks; Ctrl-C to stop.")
            await worker.run_forever(stop)
            return 0
        finally:
            await worker.aclose()

    try:
        attempted = asyncio.run(work())
    finally:
        store.close()
    if once:
        console.print(f"Attempted {attempted} webhook delivery(ies).")


if __name__ == "__main__":
    app()
