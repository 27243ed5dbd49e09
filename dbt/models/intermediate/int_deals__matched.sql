-- Every CRM deal with the lead it came from, if any. Evidence is tried from the
-- strongest down: the session id the site wrote into the deal, then the contact
-- phone equal to a lead's caller number, then the deal's UTM tags. Among leads
-- found by the same evidence, the latest lead created before the deal wins (the
-- conversation that produced it), else the earliest one after. A deal gets at
-- most one lead; a lead may have several deals.

with

deals as (

    select * from {{ ref('int_crm__deals') }}

),

leads as (

    select * from {{ ref('int_leads') }}

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
        'phone' as match_method

    from deals
    inner join leads
        on deals.company_id = leads.company_id
        and deals.contact_phone = leads.caller_number

    union all

    select
        deals.deal_key,
        leads.lead_id,
        leads.lead_created_at,
        3 as match_priority,
        'utm' as match_method

    from deals
    inner join leads
        on deals.company_id = leads.company_id
        and deals.utm_source = leads.utm_source
        and coalesce(deals.utm_medium, '') = coalesce(leads.utm_medium, '')
        and coalesce(deals.utm_campaign, '') = coalesce(leads.utm_campaign, '')

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
        deals.company_id,
        best_match.lead_id,
        best_match.match_method,
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
