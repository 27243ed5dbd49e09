"""callpath_events_extract: event store -> warehouse raw, one day per run, per company.

    company_ids -> extract[company_id, ...] -> raw_events_landed (asset callpath_raw_events)

Each mapped `extract` replaces one company's partition (`company_id`, `_day`) of the
raw event tables for the run's day (`pipelines.daily.run_extract`). When every company
has landed, `raw_events_landed` emits the asset event (extra: the day) that
`callpath_analytics_build` is scheduled on.

Schedule: `dags.common.DAILY`, a one-day data interval [00:00, next 00:00) in the
company time zone; the run for day D starts right after D ends. Thin: every task
imports and calls one function of `pipelines.daily`.
"""

from __future__ import annotations

from airflow.sdk import TriggerRule, dag, task

from dags.common import DAILY, RAW_EVENTS, START_DATE, default_args, interval_day, run_settings

DAG_ID = "callpath_events_extract"


@dag(
    dag_id=DAG_ID,
    schedule=DAILY,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["callpath", "daily", "extract"],
    doc_md=__doc__,
)
def callpath_events_extract() -> None:
    @task
    def company_ids() -> list[str]:
        from pipelines import daily

        return daily.list_company_ids(run_settings())

    @task(map_index_template="{{ task.op_kwargs['company_id'] }}")
    def extract(company_id: str) -> dict[str, int]:
        from pipelines import daily

        return daily.run_extract(company_id, interval_day(), run_settings())

    # NONE_FAILED: with no companies the mapped task is skipped and the day still lands.
    @task(outlets=[RAW_EVENTS], trigger_rule=TriggerRule.NONE_FAILED)
    def raw_events_landed(*, outlet_events=None) -> str:
        day = interval_day().isoformat()
        outlet_events[RAW_EVENTS].extra = {"day": day}
        return day

    extract.expand(company_id=company_ids()) >> raw_events_landed()


callpath_events_extract_dag = callpath_events_extract()
