{#-
    Normalise a phone number to E.164 ('+79161234567') so that CRM contact phones,
    typed by hand in any format, can be matched to the caller numbers of calls.
    National formats of `default_phone_country_code` are expanded:
    '8 (916) 123-45-67' and '9161234567' both become '+79161234567'.
    Empty or digit-free input becomes null.
-#}
{% macro to_e164(column_name) -%}
    {{ return(adapter.dispatch('to_e164')(column_name)) }}
{%- endmacro %}

{% macro default__to_e164(column_name) -%}
    {%- set country = var('default_phone_country_code') -%}
    {%- set digits = "regexp_replace(" ~ column_name ~ ", '[^0-9]', '', 'g')" -%}
    case
        when {{ digits }} = '' then null
        when length({{ digits }}) = 11 and {{ digits }} like '8%'
            then {{ dbt.concat(["'+" ~ country ~ "'", "substr(" ~ digits ~ ", 2)"]) }}
        when length({{ digits }}) = 10
            then {{ dbt.concat(["'+" ~ country ~ "'", digits]) }}
        else {{ dbt.concat(["'+'", digits]) }}
    end
{%- endmacro %}
