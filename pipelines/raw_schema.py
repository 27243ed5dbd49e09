"""DDL of the warehouse `raw` schema: the only contract between landing and dbt.

Every raw table carries `_day` (the partition: a calendar day in the company's
time zone) or, for sources that are upserted, `_loaded_at`.  Timestamps are
naive UTC.  Landing code replaces whole partitions; dbt only reads.
"""

RAW_SCHEMA = "raw"

RAW_TABLES: dict[str, str] = {
    "sessions": """
        company_id      varchar   not null,
        site_id         varchar   not null,
        session_id      varchar   not null,
        visitor_id      varchar   not null,
        started_at      timestamp not null,
        last_seen_at    timestamp not null,
        landing_url     varchar,
        referrer        varchar,
        utm_source      varchar,
        utm_medium      varchar,
        utm_campaign    varchar,
        utm_content     varchar,
        utm_term        varchar,
        gclid           varchar,
        yclid           varchar,
        client_ip       varchar,
        region          varchar,
        _day            date      not null
    """,
    "number_leases": """
        company_id      varchar   not null,
        lease_id        varchar   not null,
        number          varchar   not null,
        session_id      varchar   not null,
        leased_from     timestamp not null,
        last_seen_at    timestamp not null,
        leased_until    timestamp not null,
        is_shared       boolean   not null,
        _day            date      not null
    """,
    "calls": """
        company_id          varchar   not null,
        entry_id            varchar   not null,
        tracking_number     varchar,
        caller_number       varchar,
        direction           varchar   not null,
        started_at          timestamp not null,
        answered_at         timestamp,
        ended_at            timestamp,
        wait_seconds        integer,
        talk_seconds        integer,
        employee_extension  varchar,
        disconnect_reason   varchar,
        session_id          varchar,
        attribution_reason  varchar   not null,
        is_first_call       boolean   not null,
        is_target           boolean   not null,
        is_missed           boolean   not null,
        _day                date      not null
    """,
    # One row per touch of a lead (a call, a web form, a callback request), as the
    # realtime service grouped them; `_day` is the touch's local day. phone and email
    # are the lead's (touches carry no contact of their own).
    "lead_touches": """
        company_id          varchar   not null,
        lead_id             varchar   not null,
        touch_type          varchar   not null,
        touch_ref           varchar   not null,
        touched_at          timestamp not null,
        session_id          varchar,
        phone               varchar,
        email               varchar,
        page                varchar,
        _day                date      not null
    """,
    # One row per callback task (requested callback or missed call to return), as it
    # stood when its creation day was extracted. Columns are copied from the store's
    # CallbackTask by name (`id` as task_id), so a new task field is one line here.
    "callback_tasks": """
        company_id          varchar   not null,
        task_id             varchar   not null,
        phone               varchar,
        reason              varchar   not null,
        lead_id             varchar,
        ref                 varchar   not null,
        status              varchar   not null,
        created_at          timestamp not null,
        done_at             timestamp,
        closed_by           varchar,
        closed_by_entry_id  varchar,
        closed_by_target_call boolean,
        auto_callback_status varchar,
        _day                date      not null
    """,
    # The pool per company, region and day: the realtime pool stats and the sizing
    # advisor's recommendation (realtime/pool/advisor.py) as the extract saw them.
    "pool_snapshots": """
        company_id              varchar       not null,
        region                  varchar       not null,
        size                    integer       not null,
        leased_at_snapshot      integer       not null,
        free_inventory          integer       not null,
        leases                  integer       not null,
        shared_leases           integer       not null,
        exhaustion_events       integer       not null,
        peak_arrivals_per_hour  double precision not null,
        mean_hold_minutes       double precision not null,
        offered_load_erlangs    double precision not null,
        target_blocking         double precision not null,
        recommended_size        integer       not null,
        taken_at                timestamp     not null,
        _day                    date          not null
    """,
    # The company's tracking numbers (pool state) when the day was extracted: static
    # numbers and their channel, numbers it holds or recently gave up (quarantine).
    "tracking_numbers": """
        company_id          varchar   not null,
        number              varchar   not null,
        region              varchar,
        kind                varchar   not null,
        channel             varchar,
        is_former           boolean   not null,
        quarantine_until    timestamp,
        _day                date      not null
    """,
}

# Fivetran ad_reporting's unified shape plus load metadata, one table per platform.
AD_SPEND_COLUMNS = """
    date_day            date          not null,
    platform            varchar       not null,
    account_id          varchar       not null,
    campaign_id         varchar       not null,
    campaign_name       varchar,
    clicks              bigint        not null,
    impressions         bigint        not null,
    spend               decimal(18,2) not null,
    currency            varchar       not null,
    url_template        varchar,
    _account            varchar       not null,
    _loaded_at          timestamp     not null
"""
CRM_DEAL_COLUMNS = """
    crm                 varchar       not null,
    deal_id             varchar       not null,
    company_id          varchar       not null,
    created_at          timestamp     not null,
    updated_at          timestamp     not null,
    closed_at           timestamp,
    status              varchar       not null,
    amount              decimal(18,2) not null,
    currency            varchar       not null,
    contact_id          varchar,
    contact_phone       varchar,
    responsible_user_id varchar,
    session_id          varchar,
    utm_source          varchar,
    utm_medium          varchar,
    utm_campaign        varchar,
    _account            varchar       not null,
    _loaded_at          timestamp     not null
"""
# One row per contact phone: matching deals to leads and smart redirect both look up
# by phone.
CRM_CONTACT_COLUMNS = """
    crm                 varchar       not null,
    contact_id          varchar       not null,
    company_id          varchar       not null,
    phone               varchar       not null,
    name                varchar,
    responsible_user_id varchar,
    updated_at          timestamp     not null,
    _account            varchar       not null,
    _loaded_at          timestamp     not null
"""
SPEND_PLATFORMS = ("yandex_direct", "google_ads")
CRMS = ("amocrm", "bitrix24")

RAW_TABLES.update({f"ad_spend_{p}": AD_SPEND_COLUMNS for p in SPEND_PLATFORMS})
RAW_TABLES.update({f"crm_deals_{c}": CRM_DEAL_COLUMNS for c in CRMS})
RAW_TABLES.update({f"crm_contacts_{c}": CRM_CONTACT_COLUMNS for c in CRMS})


def create_raw_tables(conn) -> None:
    """Create the raw schema and tables if missing (DuckDB or any DB-API connection)."""
    conn.execute(f"create schema if not exists {RAW_SCHEMA}")
    for name, columns in RAW_TABLES.items():
        conn.execute(f"create table if not exists {RAW_SCHEMA}.{name} ({columns})")
