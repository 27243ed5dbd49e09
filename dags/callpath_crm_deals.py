"""callpath_crm_deals: deals and contacts from every configured CRM into raw, daily.

    crm_accounts -> land_crm[amocrm:account, bitrix24:account, ...]
                 -> raw_crm_deals_landed (asset callpath_raw_crm_deals)

One mapped `land_crm` instance per CRM integration (`CALLPATH_AMOCRM_*`,
`CALLPATH_BITRIX24_*`). Incremental with a lookback: each pulls what changed since
`CALLPATH_DEALS_LOOKBACK_DAYS` days before the run's day and upserts by deal (latest
`updated_at` wins), then the contacts, which also go to the event store (smart
redirect's phone -> responsible manager lookup, `docs/redirect.md`). The asset is
emitted only when every CRM landed.

Schedule: `dags.common.DAILY` (one-day intervals in the company time zone).
"""

from __future__ import annotations

from airflow.sdk import TriggerRule, dag, task

from dags.common import DAILY, RAW_CRM_DEALS, START_DATE, default_args, interval_day, run_settings

DAG_ID = "callpath_crm_deals"


@dag(
    dag_id=DAG_ID,
    schedule=DAILY,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["callpath", "daily", "crm", "connectors"],
    doc_md=__doc__,
)
def callpath_crm_deals() -> None:
    @task
    def crm_accounts() -> list[dict]:
        from pipelines import daily

        return daily.list_crm_accounts()

    @task(
        map_index_template="{{ task.op_kwargs['account']['source'] }}:"
        "{{ task.op_kwargs['account']['account'] }}"
    )
    def land_crm(account: dict) -> int:
        from pipelines import daily

        return daily.run_land_crm_account(
            account["source"],
            account["account"],
            interval_day(),
            run_settings(),
            error=account.get("error"),
        )

    @task(outlets=[RAW_CRM_DEALS], trigger_rule=TriggerRule.NONE_FAILED)
    def raw_crm_deals_landed(*, outlet_events=None) -> str:
        day = interval_day().isoformat()
        outlet_events[RAW_CRM_DEALS].extra = {"day": day}
        return day

    land_crm.expand(account=crm_accounts()) >> raw_crm_deals_landed()


callpath_crm_deals_dag = callpath_crm_deals()
