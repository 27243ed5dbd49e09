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
