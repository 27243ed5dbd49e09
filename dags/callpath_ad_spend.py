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

# The Airflow DAG is built by dags.common.account_landing_dag (shared with the other
# per-account landing DAG). The words "airflow" and "dag" in this file also keep it
# visible to Airflow's safe-mode file scan.
from dags.common import RAW_AD_SPEND, account_landing_dag

DAG_ID = "callpath_ad_spend"


def callpath_ad_spend():
    return account_landing_dag(
        dag_id=DAG_ID,
        doc=__doc__,
        tags=["callpath", "daily", "ad_spend", "connectors"],
        asset=RAW_AD_SPEND,
        list_accounts="list_spend_accounts",
        land_account="run_land_spend_account",
        task_ids=("spend_accounts", "land_spend", "raw_ad_spend_landed"),
    )


callpath_ad_spend_dag = callpath_ad_spend()
