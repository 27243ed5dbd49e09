"""What every callpath DAG shares: the daily schedule, default_args, run settings, assets.

No DAG is defined here; DAG files import these so each stays a few lines of wiring.
"""

from __future__ import annotations

from datetime import date, timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, get_current_context

from realtime.settings import Settings

TIMEZONE: str = Settings().default_timezone

# A real one-day data interval [00:00, next 00:00) local time: a plain cron string in
# Airflow 3 defaults to CronTriggerTimetable, whose runs have zero-length intervals.
DAILY = CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE)
START_DATE = pendulum.datetime(2025, 1, 1, tz=TIMEZONE)


def _on_failure(context) -> None:
    # Imported when a task fails, not when the DAG file is parsed.
    from pipelines.alerts import task_failure_alert

    task_failure_alert(context)


default_args = {
    "owner": "callpath",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "on_failure_callback": _on_failure,
}

# What the three source DAGs produce and `callpath_analytics_build` is scheduled on.
# Each event carries `extra={"day": "YYYY-MM-DD"}`: the interval day it landed.
RAW_EVENTS = Asset(name="callpath_raw_events", uri="callpath://warehouse/raw/events")
RAW_AD_SPEND = Asset(name="callpath_raw_ad_spend", uri="callpath://warehouse/raw/ad_spend")
RAW_CRM_DEALS = Asset(name="callpath_raw_crm_deals", uri="callpath://warehouse/raw/crm_deals")
PUBLISHED_MARTS = Asset(name="callpath_published_marts", uri="callpath://warehouse/published")


def run_settings() -> Settings | None:
    """Settings for this run: `dag_run.conf["callpath_settings"]` over CALLPATH_* env.

    Empty conf (scheduled runs) gives None, i.e. the pipelines read the worker's
    CALLPATH_* environment. `pipelines.orchestration.run_day(day, settings)` fills the conf.
    """
    dag_run = get_current_context().get("dag_run")
    overrides = ((dag_run.conf if dag_run else None) or {}).get("callpath_settings")
    return Settings(**overrides) if overrides else None


def interval_day(data_interval_start: pendulum.DateTime | None = None) -> date:
    """The calendar day (in `TIMEZONE`) whose data this run processes."""
    if data_interval_start is None:
        data_interval_start = get_current_context().get("data_interval_start")
    if data_interval_start is None:
        raise ValueError(
            "this DAG needs a data interval: trigger it with a logical date "
            "(a run for day D needs logical date D+1 00:00 when triggered manually)"
        )
    return pendulum.instance(data_interval_start).in_timezone(TIMEZONE).date()


def build_days() -> tuple[date, date]:
    """The days (first, last) this `callpath_analytics_build` run covers (`days_covered`)."""
    context = get_current_context()
    dag_run = context.get("dag_run")
    conf = (dag_run.conf if dag_run else None) or {}
    return days_covered(conf, context.get("triggering_asset_events"))


def days_covered(conf: dict, triggering_asset_events) -> tuple[date, date]:
    """The days (first, last) an analytics build covers.

    `conf` `{"day": last, "from_day": first}` when given (manual runs,
    `pipelines.orchestration`); else the range of `day` among the asset events that
    triggered the run: when the source DAGs landed several days (a backfill) before a
    build ran, one build consumes all their events. A build always rebuilds every
    mart from all of raw, and the quality gate checks every day in the range.
    """
    if conf.get("day"):
        last = date.fromisoformat(conf["day"])
        return date.fromisoformat(conf.get("from_day") or conf["day"]), last
    days = [
        date.fromisoformat(event.extra["day"])
        for events in (triggering_asset_events or {}).values()
        for event in events
        if (event.extra or {}).get("day")
    ]
    if not days:
        raise ValueError(
            "callpath_analytics_build needs a day: it runs on the source DAGs' asset "
            'events, or trigger it with conf {"day": "YYYY-MM-DD"}'
        )
    return min(days), max(days)


def account_landing_dag(
    *,
    dag_id: str,
    doc: str,
    tags: list[str],
    asset: Asset,
    list_accounts: str,
    land_account: str,
    task_ids: tuple[str, str, str],
):
    """The shape `callpath_ad_spend` and `callpath_crm_deals` share:

        <list accounts> -> <land>[source:account, ...] -> <landed> (emits `asset`)

    One mapped landing per configured account of a source (`list_accounts`, a
    `pipelines.daily` function), each calling `pipelines.daily.<land_account>` for the
    interval's day; a failing account fails its own instance only, and the asset (with
    the day in its extra) is emitted only when every account landed."""
    from airflow.sdk import TriggerRule, dag, task

    accounts_id, land_id, landed_id = task_ids

    @dag(
        dag_id=dag_id,
        schedule=DAILY,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        tags=tags,
        doc_md=doc,
    )
    def landing() -> None:
        @task(task_id=accounts_id)
        def accounts() -> list[dict]:
            from pipelines import daily

            return getattr(daily, list_accounts)()

        @task(
            task_id=land_id,
            map_index_template="{{ task.op_kwargs['account']['source'] }}:"
            "{{ task.op_kwargs['account']['account'] }}",
        )
        def land(account: dict) -> int:
            from pipelines import daily

            return getattr(daily, land_account)(
                account["source"],
                account["account"],
                interval_day(),
                run_settings(),
                error=account.get("error"),
            )

        @task(task_id=landed_id, outlets=[asset], trigger_rule=TriggerRule.NONE_FAILED)
        def landed(*, outlet_events=None) -> str:
            day = interval_day().isoformat()
            outlet_events[asset].extra = {"day": day}
            return day

        land.expand(account=accounts()) >> landed()

    return landing()
