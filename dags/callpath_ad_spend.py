"""callpath_ad_spend: ad spend from every configured ad account into raw, daily.

    spend_accounts -> land_spend[yandex_direct:login, google_ads:customer, ...]
                   -> raw_ad_spend_landed (asset callpath_raw_ad_spend)

Dynamic task mapping: one `land_spend` instance per configured ad account of each
platform (`CALLPATH_YANDEX_DIRECT_*`, `CALLPATH_GOOGLE_ADS_*`; `connectors.registry`).
Each re-pulls `CALLPATH_SPEND_LOOKBACK_DAYS` days ending on the run's day, because
platforms restate spend, and replaces that account × day window. A failing account
fails its own instance only; the asset is emitted only when every account landed.

Schedule: `dags.common.DAILY` (one-day intervals in the company time zone).
"""

from __future__ import annotations

from airflow.sdk import TriggerRule, dag, task

from dags.common import DAILY, RAW_AD_SPEND, START_DATE, default_args, interval_day, run_settings

DAG_ID = "callpath_ad_spend"


@dag(
    dag_id=DAG_ID,
    schedule=DAILY,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["callpath", "daily", "ad_spend", "connectors"],
    doc_md=__doc__,
)
def callpath_ad_spend() -> None:
    @task
    def spend_accounts() -> list[dict]:
        from pipelines import daily

        return daily.list_spend_accounts()

    @task(
        map_index_template="{{ task.op_kwargs['account']['source'] }}:"
        "{{ task.op_kwargs['account']['account'] }}"
    )
    def land_spend(account: dict) -> int:
        from pipelines import daily

        return daily.run_land_spend_account(
            account["source"],
            account["account"],
            interval_day(),
            run_settings(),
            error=account.get("error"),
        )

    @task(outlets=[RAW_AD_SPEND], trigger_rule=TriggerRule.NONE_FAILED)
    def raw_ad_spend_landed(*, outlet_events=None) -> str:
        day = interval_day().isoformat()
        outlet_events[RAW_AD_SPEND].extra = {"day": day}
        return day

    land_spend.expand(account=spend_accounts()) >> raw_ad_spend_landed()


callpath_ad_spend_dag = callpath_ad_spend()
