-- How much of each lead every touch of its path earns, under each attribution
-- model (macros/attribution/attribution_models.sql). Rules and a worked example:
-- docs/attribution.md. Touches a model gives nothing (first_touch's later
-- touches, ...) have no row for that model; the credits of a lead sum to 1 under
-- every model.

with

touches as (

    select * from {{ ref('int_attribution__touches') }}

),

attribution_models as (

    {{ attribution_models_relation() }}

),

ordered as (

    select
        *,
        -- ties (two sessions in the same second) are broken by id, so reruns agree
        row_number() over (
            partition by lead_id
            order by touched_at, touch_id
        ) as touch_number,
        count(*) over (partition by lead_id) as touch_count,
        {{ attribution_age_seconds('touched_at', 'converted_at') }} as age_seconds

    from touches

),

weighted as (

    select
        *,
        -- the path's last touch that is not direct; null when all are direct
        max(case when channel <> 'direct' then touch_number end)
            over (partition by lead_id) as last_non_direct_number,
        -- 2^(-age / half-life); a touch after the lead (own session, clock skew) is age 0
        power(
            2.0,
            -1.0 * (case when age_seconds > 0 then age_seconds else 0 end)
            / ({{ attribution_var('attribution_time_decay_half_life_days', 0, inclusive=false) }}
                * 86400.0)
        ) as decay_weight

    from ordered

),

normalised as (

    select
        *,
        sum(decay_weight) over (partition by lead_id) as decay_weight_total

    from weighted

),

credited as (

    select
        normalised.*,
        attribution_models.attribution_model,
        -- one division of whole numbers per share, so e.g. 1/15 is the exact double
        case attribution_models.attribution_model
            when 'first_touch' then
                case when touch_number = 1 then 1.0 else 0.0 end
            when 'last_touch' then
                case when touch_number = touch_count then 1.0 else 0.0 end
            when 'last_non_direct' then
                case
                    when touch_number = coalesce(last_non_direct_number, touch_count) then 1.0
                    else 0.0
                end
            when 'linear' then
                1.0 / touch_count
            when 'position_based' then
                case
                    when touch_count = 1 then 1.0
                    when touch_count = 2 then 0.5
                    when touch_number = 1 or touch_number = touch_count then 0.4
                    else 1.0 / (5 * (touch_count - 2))
                end
            when 'time_decay' then
                decay_weight / decay_weight_total
        end as credit

    from normalised
    cross join attribution_models

),

final as (

    select
        ---------- ids
        lead_id,
        touch_id,
        cast(attribution_model as {{ dbt.type_string() }}) as attribution_model,
        company_id,
        visitor_id,
        session_id,

        ---------- strings
        touch_kind,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,

        ---------- numerics
        cast(touch_number as {{ dbt.type_int() }}) as touch_number,
        cast(touch_count as {{ dbt.type_int() }}) as touch_count,
        cast(age_seconds / 86400.0 as double precision) as age_days,
        cast(credit as double precision) as credit,
        won_deals,
        revenue,

        ---------- timestamps
        touched_at,
        touch_date,
        converted_at,
        lead_date

    from credited
    where credit > 0

)

select * from final
