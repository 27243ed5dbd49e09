{#-
    The attribution models the project computes, in the order reports list them.
    int_attribution__credits gives each a credit rule; the mart and its tests read
    this list, so every model carries its rows and its copy of the cost.
-#}
{% macro attribution_models() %}
    {{ return([
        'first_touch',
        'last_touch',
        'last_non_direct',
        'linear',
        'position_based',
        'time_decay',
    ]) }}
{% endmacro %}


{#- One row per attribution model: `select 'first_touch' as attribution_model union all ...` -#}
{% macro attribution_models_relation() %}
    {%- for attribution_model in attribution_models() %}
    select cast('{{ attribution_model }}' as {{ dbt.type_string() }}) as attribution_model
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{% endmacro %}
