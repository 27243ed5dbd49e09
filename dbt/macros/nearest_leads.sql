{#-
    For each row of `deal_rows` (deal_key, deal_created_at and the `keys` columns),
    the leads of `lead_rows` (lead_id, lead_created_at and the same `keys`) that
    int_deals__matched would rank first among leads sharing the key:
      - the latest lead created at or before the deal (ties: the smallest lead_id),
        if it is at most `window_days` older than the deal;
      - the earliest lead created after the deal (ties: the smallest lead_id), if
        it is at most `window_days` newer.
    At most two rows per deal row: deal_key, lead_id, lead_created_at.

    Why not a join on the key with the window as a range condition: many leads share
    one phone and very many one utm campaign, so that join pairs every deal with
    every lead of its campaign and grows with the square of history (39–63 s at SF4
    in BENCHMARKS.md). Here deals and leads are sorted together once per key: a
    running count of leads gives each deal the position of its neighbours, which are
    then fetched with an equality join.
-#}
{% macro nearest_leads(deal_rows, lead_rows, keys, window_days) -%}
{%- set key_list = keys | join(', ') -%}
{%- set same_key -%}
    {%- for key in keys %}{% if not loop.first %} and {% endif %}deal_positions.{{ key }} = ranked_leads.{{ key }}{% endfor -%}
{%- endset -%}
{%- for neighbour in ['before', 'after'] %}
    select
        deal_positions.deal_key,
        ranked_leads.lead_id,
        ranked_leads.lead_created_at

    from (

        select
            {{ key_list }},
            deal_key,
            event_at as deal_created_at,
            leads_up_to_deal

        from (

            select
                *,
                -- leads at the deal's own instant sort first: created at or before
                sum(case when is_deal then 0 else 1 end) over (
                    partition by {{ key_list }}
                    order by event_at, is_deal
                    rows between unbounded preceding and current row
                ) as leads_up_to_deal

            from (

                select
                    {{ key_list }},
                    lead_created_at as event_at,
                    false as is_deal,
                    cast(null as {{ dbt.type_string() }}) as deal_key
                from {{ lead_rows }}

                union all

                select
                    {{ key_list }},
                    deal_created_at as event_at,
                    true as is_deal,
                    deal_key
                from {{ deal_rows }}

            ) as events

        ) as counted

        where is_deal

    ) as deal_positions

    inner join (

        select
            {{ key_list }},
            lead_id,
            lead_created_at,
            row_number() over (
                partition by {{ key_list }}
                {#- the last lead at or before a deal is the smallest lead_id of its
                    instant; the first one after it too #}
                order by lead_created_at, lead_id {{ 'desc' if neighbour == 'before' }}
            ) as lead_position

        from {{ lead_rows }}

    ) as ranked_leads
        on {{ same_key }}
    {%- if neighbour == 'before' %}
        and ranked_leads.lead_position = deal_positions.leads_up_to_deal
    where ranked_leads.lead_created_at
        >= {{ dbt.dateadd('day', -window_days, 'deal_positions.deal_created_at') }}
    {%- else %}
        and ranked_leads.lead_position = deal_positions.leads_up_to_deal + 1
    where ranked_leads.lead_created_at
        <= {{ dbt.dateadd('day', window_days, 'deal_positions.deal_created_at') }}
    {%- endif %}
    {% if not loop.last %}

    union all
    {% endif -%}
{%- endfor %}
{%- endmacro %}
