with

source as (

    select * from {{ source('callpath', 'sessions') }}

),

renamed as (

    select

        ---------- ids
        session_id,
        company_id,
        site_id,
        visitor_id,

        ---------- strings
        landing_url,
        nullif(trim(referrer), '') as referrer,
        -- source and medium are matched against lists, so case must not matter;
        -- campaign keeps its case because it is shown to people.
        lower(nullif(trim(utm_source), '')) as utm_source,
        lower(nullif(trim(utm_medium), '')) as utm_medium,
        nullif(trim(utm_campaign), '') as utm_campaign,
        nullif(trim(utm_content), '') as utm_content,
        nullif(trim(utm_term), '') as utm_term,
        nullif(gclid, '') as gclid,
        nullif(yclid, '') as yclid,
        client_ip,
        region,

        ---------- timestamps
        started_at,
        last_seen_at,
        -- the partition day is already the company's local date: the report date
        _day as session_date

    from source

)

select * from renamed
