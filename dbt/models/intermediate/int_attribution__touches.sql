-- The paths attribution credits: for every lead (a conversion), the sessions its
-- visitor started in the `attribution_lookback_days` before the lead was created.
--
-- A lead's visitor is the visitor of the session it came from, which int_leads
-- already carries (reading all sessions again for it cost a scan of the largest
-- table). A lead with no visitor (a call to a static number, a call nobody's lease
-- covered) or with no session in the window still counts: it gets one touch of its
-- own, carrying the lead's channel and UTM tags, so every lead's credits sum to 1
-- and no lead drops out of the attribution totals.
--
-- Each lead carries the number and amount of its won deals; the credits model
-- splits them over the touches like the lead itself.

with

leads as (

    select * from {{ ref('int_leads') }}

),

sessions as (

    select * from {{ ref('int_sessions__channels') }}

),

won_deals as (

    select * from {{ ref('int_deals__matched') }}
    where lead_id is not null
        and is_won

),

deal_totals as (

    select
        lead_id,
        count(*) as won_deals,
        sum(amount) as revenue

    from won_deals
    group by 1

),

conversions as (

    select
        leads.lead_id,
        leads.company_id,
        leads.session_id as lead_session_id,
        leads.visitor_id,
        leads.channel,
        leads.utm_source,
        leads.utm_medium,
        leads.utm_campaign,
        leads.lead_created_at,
        leads.lead_date,
        cast(coalesce(deal_totals.won_deals, 0) as {{ dbt.type_bigint() }}) as won_deals,
        cast(coalesce(deal_totals.revenue, 0) as numeric(18, 2)) as revenue

    from leads

    left join deal_totals
        on leads.lead_id = deal_totals.lead_id

),

session_touches as (

    select
        conversions.lead_id,
        sessions.session_id,
        sessions.started_at as touched_at,
        sessions.session_date as touch_date,
        sessions.channel,
        sessions.utm_source,
        sessions.utm_medium,
        sessions.utm_campaign

    from conversions

    inner join sessions
        on conversions.company_id = sessions.company_id
        and conversions.visitor_id = sessions.visitor_id

    where
        -- the lead's own session always belongs to its path, even if the clocks
        -- of the site and the telephony disagree by a little
        sessions.session_id = conversions.lead_session_id
        or (
            sessions.started_at <= conversions.lead_created_at
            and sessions.started_at >= {{ dbt.dateadd(
                'day', -attribution_var('attribution_lookback_days', 0),
                'conversions.lead_created_at'
            ) }}
        )

),

touched_leads as (

    select distinct lead_id from session_touches

),

-- no visitor, or no session of the visitor in the window: the lead is its own touch
own_touches as (

    select
        conversions.lead_id,
        cast(null as {{ dbt.type_string() }}) as session_id,
        conversions.lead_created_at as touched_at,
        conversions.lead_date as touch_date,
        conversions.channel,
        conversions.utm_source,
        conversions.utm_medium,
        conversions.utm_campaign

    from conversions

    left join touched_leads
        on conversions.lead_id = touched_leads.lead_id

    where touched_leads.lead_id is null

),

touches as (

    select *, 'session' as touch_kind from session_touches
    union all
    select *, 'lead' as touch_kind from own_touches

),

final as (

    select
        ---------- ids
        {{ dbt.concat([
            'touches.lead_id', "':'", "coalesce(touches.session_id, 'lead')"
        ]) }} as touch_id,
        touches.lead_id,
        conversions.company_id,
        conversions.visitor_id,
        touches.session_id,

        ---------- strings
        touches.touch_kind,
        touches.channel,
        touches.utm_source,
        touches.utm_medium,
        touches.utm_campaign,

        ---------- numerics (of the lead, repeated on each of its touches)
        conversions.won_deals,
        conversions.revenue,

        ---------- timestamps
        touches.touched_at,
        touches.touch_date,
        conversions.lead_created_at as converted_at,
        conversions.lead_date

    from touches

    inner join conversions
        on touches.lead_id = conversions.lead_id

)

select * from final
