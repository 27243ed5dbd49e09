{#-
    Normalise a phone number to E.164 ('+79161234567') so that CRM contact phones,
    typed by hand in any format, match the caller numbers of calls (which the
    realtime service already stores in E.164). Same reading as realtime/phones.py:
    a leading '+' means international; otherwise a national number of
    `default_phone_country_code` is expanded: '8 (916) 123-45-67' and
    '916 123 45 67' become '+79161234567'; other digit strings are read as
    international. Fewer than 7 digits (extensions, junk) become null.
    No validation beyond that: SQL has no numbering plan.
-#}
{% macro to_e164(column_name) -%}
    {{ return(adapter.dispatch('to_e164')(column_name)) }}
{%- endmacro %}

{% macro default__to_e164(column_name) -%}
    {%- set country = var('default_phone_country_code') -%}
    {%- set digits = "regexp_replace(" ~ column_name ~ ", '[^0-9]', '', 'g')" -%}
    case
        when length({{ digits }}) < 7 then null
        when trim({{ column_name }}) like '+%' then {{ dbt.concat(["'+'", digits]) }}
        when length({{ digits }}) = 11 and {{ digits }} like '8%'
            then {{ dbt.concat(["'+" ~ country ~ "'", "substr(" ~ digits ~ ", 2)"]) }}
        when length({{ digits }}) = 10
            then {{ dbt.concat(["'+" ~ country ~ "'", digits]) }}
        else {{ dbt.concat(["'+'", digits]) }}
    end
{%- endmacro %}
