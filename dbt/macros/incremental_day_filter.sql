{#-
    The `where` of an incremental model partitioned by a date column: on an
    incremental run only the last `incremental_lookback_days` (var) days up to the
    newest day already built are rebuilt (with delete+insert on the model's key),
    because late events and re-extracted partitions land in days already built.
    A first run, a full refresh, or an empty table takes everything.
-#}
{% macro incremental_day_filter(date_column) -%}
    {%- if is_incremental() -%}
    where {{ date_column }} >= (
        select coalesce(
            {{ dbt.dateadd('day', -var('incremental_lookback_days'), 'max(' ~ date_column ~ ')') }},
            cast('1900-01-01' as date)
        )
        from {{ this }}
    )
    {%- endif -%}
{%- endmacro %}
