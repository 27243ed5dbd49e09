-- Every lead is shared out exactly once under every attribution model: its
-- credits sum to 1 (within floating-point rounding), and no lead of int_leads
-- is missing from a model. Returns the (lead, model) pairs that break this.

with

leads as (

    select lead_id from {{ ref('int_leads') }}

),

attribution_models as (

    {{ attribution_models_relation() }}

),

credit_sums as (

    select
        lead_id,
        attribution_model,
        sum(credit) as credit_sum

    from {{ ref('int_attribution__credits') }}
    group by 1, 2

),

expected as (

    select
        leads.lead_id,
        attribution_models.attribution_model

    from leads
    cross join attribution_models

),

checked as (

    select
        coalesce(expected.lead_id, credit_sums.lead_id) as lead_id,
        coalesce(expected.attribution_model, credit_sums.attribution_model)
            as attribution_model,
        credit_sums.credit_sum

    from expected

    full outer join credit_sums
        on expected.lead_id = credit_sums.lead_id
        and expected.attribution_model = credit_sums.attribution_model

)

select * from checked
where credit_sum is null
    or abs(credit_sum - 1) > 1e-9
