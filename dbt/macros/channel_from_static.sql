{#-
    The channel of a call to a static number. A static number carries a free-form
    channel label in the pool inventory ('offline/billboard-msk', 'email/newsletter');
    its first path segment is the channel when it is one of ours, otherwise (and
    when there is no label) the call is 'offline': static numbers are printed on
    billboards, flyers and radio ads.
-#}
{% macro channel_from_static(static_channel) -%}
    {%- set channels = [
        'paid_search', 'paid_social', 'organic_search', 'social', 'referral', 'email',
        'messenger', 'direct', 'offline'] -%}
    {%- set head = dbt.split_part("lower(coalesce(" ~ static_channel ~ ", ''))", "'/'", 1) -%}
    case
        when {{ head }} in ('{{ channels | join("', '") }}') then {{ head }}
        else 'offline'
    end
{%- endmacro %}
