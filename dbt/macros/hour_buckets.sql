{#-
    One row per clock hour an interval touches: used as a select-list expression,
    `{{ hour_buckets('leased_from', 'leased_until') }} as hour_bucket` turns each row
    into one row per hour from the hour of `started` to the hour of `ended`, both
    included. Joining on the hour then finds every interval covering an instant with
    an equality join; a plain range join compares each call with every lease the
    number ever had, which grows with the square of history (BENCHMARKS.md).
    Set-returning functions differ between engines, hence the dispatch.
-#}
{% macro hour_buckets(started, ended) -%}
    {{ return(adapter.dispatch('hour_buckets')(started, ended)) }}
{%- endmacro %}

{% macro default__hour_buckets(started, ended) -%}
    generate_series(
        date_trunc('hour', {{ started }}),
        date_trunc('hour', {{ ended }}),
        interval '1 hour'
    )
{%- endmacro %}

{% macro duckdb__hour_buckets(started, ended) -%}
    unnest(range(
        date_trunc('hour', {{ started }}),
        date_trunc('hour', {{ ended }}) + interval 1 hour,
        interval 1 hour
    ))
{%- endmacro %}
