{#-
    Exact seconds from `started_at` to `ended_at` (timestamps), as a double.

    time_decay needs the real age of a touch: dbt.datediff('day', ...) counts
    midnights crossed, so a visit at 23:00 converting at 01:00 would be a day old.
    Each engine spells "seconds between two timestamps" its own way, hence the
    dispatch.
-#}
{% macro attribution_age_seconds(started_at, ended_at) %}
    {{ return(adapter.dispatch('attribution_age_seconds')(started_at, ended_at)) }}
{% endmacro %}

{% macro default__attribution_age_seconds(started_at, ended_at) %}
    -- PostgreSQL: the epoch of an interval is its exact length in seconds
    cast(extract(epoch from ({{ ended_at }} - {{ started_at }})) as double precision)
{% endmacro %}

{% macro duckdb__attribution_age_seconds(started_at, ended_at) %}
    -- DuckDB: epoch() of a timestamp is fractional seconds since 1970
    (epoch({{ ended_at }}) - epoch({{ started_at }}))
{% endmacro %}
