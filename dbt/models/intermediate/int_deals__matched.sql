-- Every CRM deal with the lead it came from, if any. Evidence is tried from the
-- strongest down:
--   1. session_id: the visit id the site wrote into the deal is the lead's first
--      session;
--   2. visitor_id: that visit's visitor made the lead in another session;
--   3. phone: the deal's contact phone, or any phone of its CRM contact, is the
--      lead's phone;
--   4. utm: the deal's utm_source, utm_medium and utm_campaign are the lead's.
-- Phone and UTM evidence only counts for leads created within
-- `deal_match_window_days` (var) of the deal, either side: a number that called
-- two years ago says little. Among leads found by the same evidence, the latest
-- lead created before the deal wins (the conversation that produced it), else the
-- earliest one after. A deal gets at most one lead; a lead may have several deals.

{%- set window_days = var('deal_match_window_days') %}

with

deals as (

    select * from {{ ref('int_crm__deals') }}

),

contacts as (

    select * from {{ ref('int_crm__contacts') }}

),

leads as (

    select * from {{ ref('int_leads') }}

),

sessions as (

    select * from {{ ref('int_sessions__channels') }}

),

deal_phones as (

    select deal_key, company_id, contact_phone as phone
    from deals
    where contact_phone is not null

    union

    select deals.deal_key, deals.company_id, contacts.phone
    from deals
    inner join contacts
        on deals.contact_key = contacts.contact_key
        and deals.company_id = contacts.company_id
    where contacts.phone is not null

),

deal_phone_keys as (

    select
        deal_phones.deal_key,
        deal_phones.company_id,
        deal_phones.phone,
        deals.created_at as deal_created_at

    from deal_phones
    inner join deals
        on deal_phones.deal_key = deals.deal_key

),

lead_phone_keys as (

    select company_id, phone, lead_id, lead_created_at
    from leads
    where phone is not null

),

phone_neighbours as (

    {{ nearest_leads('deal_phone_keys', 'lead_phone_keys',
                     ['company_id', 'phone'], window_days) }}

),

-- medium and campaign may be missing on both sides and then still agree
deal_utm_keys as (

    select
        deal_key,
        company_id,
        utm_source,
        coalesce(utm_medium, '') as utm_medium_key,
        coalesce(utm_campaign, '') as utm_campaign_key,
        created_at as deal_created_at

    from deals
    where utm_source is not null

),

lead_utm_keys as (

    select
        company_id,
        utm_source,
        coalesce(utm_medium, '') as utm_medium_key,
        coalesce(utm_campaign, '') as utm_campaign_key,
        lead_id,
        lead_created_at

    from leads
    where utm_source is not null

),

utm_neighbours as (

    {{ nearest_leads('deal_utm_keys', 'lead_utm_keys',
                     ['company_id', 'utm_source', 'utm_medium_key', 'utm_campaign_key'],
                     window_days) }}

),

candidates as (

    select
        deals.deal_key,
        leads.lead_id,
        leads.lead_created_at,
        1 as match_priority,
        'session_id' as match_method

    from deals
    inner join leads
        on deals.company_id = leads.company_id
        and deals.session_id = leads.session_id

    union all

    select
        deals.deal_key,
        leads.lead_id,
        leads.lead_created_at,
        2 as match_priority,
        'visitor_id' as match_method

    from deals
    inner join sessions
        on deals.company_id = sessions.company_id
        and deals.session_id = sessions.session_id
    inner join leads
        on sessions.company_id = leads.company_id
        and sessions.visitor_id = leads.visitor_id

    union all

    select
        deal_key,
        lead_id,
        lead_created_at,
        3 as match_priority,
        'phone' as match_method

    from phone_neighbours

    union all

    select
        deal_key,
        lead_id,
        lead_created_at,
        4 as match_priority,
        'utm' as match_method

    from utm_neighbours

),

ranked as (

    select
        candidates.*,
        row_number() over (
            partition by candidates.deal_key
            order by
                candidates.match_priority,
                case when candidates.lead_created_at <= deals.created_at then 0 else 1 end,
                case
                    when candidates.lead_created_at <= deals.created_at
                        then candidates.lead_created_at
                end desc nulls last,
                candidates.lead_created_at,
                candidates.lead_id
        ) as candidate_rank

    from candidates
    inner join deals
        on candidates.deal_key = deals.deal_key

),

best_match as (

    select * from ranked
    where candidate_rank = 1

),

final as (

    select
        deals.deal_key,
        deals.deal_id,
        deals.crm,
        deals.crm_account,
        deals.company_id,
        best_match.lead_id,
        coalesce(best_match.match_method, 'no_lead') as match_method,
        deals.status,
        deals.is_won,
        deals.amount,
        deals.currency,
        deals.created_at,
        deals.closed_at

    from deals

    left join best_match
        on deals.deal_key = best_match.deal_key

)

select * from final
