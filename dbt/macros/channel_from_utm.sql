{#-
    Classify a visit into one marketing channel:
    paid_search, paid_social, organic_search, social, referral, email, messenger,
    direct, offline, unknown.

    UTM tags win over the referrer because they are what the advertiser wrote;
    the referrer only speaks for untagged visits. Tagged visits that match no
    rule are 'unknown' rather than guessed. 'offline' is mostly assigned later,
    to calls to static numbers; here only for utm_medium=offline.

    Arguments are SQL expressions (usually column names); any may be null.
    utm_source and utm_medium must come trimmed and lowercased (int_sessions__channels
    does it once per session): each rule then compares them as they are, instead of
    normalising them again in every rule (BENCHMARKS.md).
    `referrer_host`, when given, is a column already holding `referrer_host(referrer)`:
    the host is then parsed once per row instead of once per host pattern (25 of them).
-#}
{% macro channel_from_utm(utm_source, utm_medium, referrer, referrer_host=none) -%}

    {%- set paid_mediums = ['cpc', 'ppc', 'cpm', 'paid'] -%}
    {%- set search_ad_sources = ['yandex', 'google', 'bing'] -%}
    {%- set social_ad_sources = [
        'vk', 'vkontakte', 'vk_ads', 'mytarget', 'facebook', 'fb', 'instagram', 'ig',
        'telegram', 'tg', 'telegram_ads'] -%}
    {%- set messenger_sources = ['telegram', 'tg', 'whatsapp', 'wa', 'viber'] -%}
    {%- set email_mediums = ['email', 'e-mail', 'e_mail', 'newsletter'] -%}

    {#- Host patterns are matched after 'www.' is stripped. -#}
    {%- set search_hosts = [
        'yandex.%', '%.yandex.%', 'ya.ru', 'google.%', '%.google.%', 'bing.com', '%.bing.com',
        'go.mail.ru', 'search.mail.ru', 'duckduckgo.com'] -%}
    {%- set webmail_hosts = ['mail.yandex.%', 'mail.google.com', 'e.mail.ru', 'outlook.live.com'] -%}
    {%- set social_hosts = [
        'vk.com', '%.vk.com', 'vk.ru', '%.vk.ru', 'facebook.com', '%.facebook.com',
        'instagram.com', '%.instagram.com', 'ok.ru', '%.ok.ru', 't.me'] -%}

    {%- set source = "coalesce(" ~ utm_source ~ ", '')" -%}
    {%- set medium = "coalesce(" ~ utm_medium ~ ", '')" -%}
    {%- set url = "coalesce(lower(trim(" ~ referrer ~ ")), '')" -%}
    {%- set host = referrer_host if referrer_host else channel_referrer_host(referrer) -%}

    case
        when {{ medium }} in ('{{ paid_mediums | join("', '") }}')
            and {{ source }} in ('{{ search_ad_sources | join("', '") }}')
            then 'paid_search'
        when {{ medium }} in ('{{ paid_mediums | join("', '") }}')
            and {{ source }} in ('{{ social_ad_sources | join("', '") }}')
            then 'paid_social'
        when {{ medium }} in ('{{ email_mediums | join("', '") }}')
            or {{ source }} in ('email', 'newsletter')
            then 'email'
        when {{ source }} in ('{{ messenger_sources | join("', '") }}') or {{ medium }} = 'messenger'
            then 'messenger'
        when {{ medium }} = 'organic' then 'organic_search'
        when {{ medium }} in ('social', 'smm') then 'social'
        when {{ medium }} = 'referral' then 'referral'
        when {{ medium }} = 'offline' then 'offline'
        when {{ source }} <> '' or {{ medium }} <> '' then 'unknown'
        {#- Untagged visits: the referrer decides. #}
        when {{ url }} = '' then 'direct'
        {#- Webmail first: mail.yandex.ru would otherwise look like a search engine. #}
        when {% for pattern in webmail_hosts %}{{ host }} like '{{ pattern }}'{% if not loop.last %} or {% endif %}{% endfor %}
            then 'email'
        when {% for pattern in search_hosts %}{{ host }} like '{{ pattern }}'{% if not loop.last %} or {% endif %}{% endfor %}
            then 'organic_search'
        when {% for pattern in social_hosts %}{{ host }} like '{{ pattern }}'{% if not loop.last %} or {% endif %}{% endfor %}
            then 'social'
        else 'referral'
    end

{%- endmacro %}


{#-
    The referrer's host, lowercased, without scheme, port, path or a leading 'www.':
    'https://www.google.com:443/search?q=x' -> 'google.com' (also without a scheme).
    '' when there is no referrer. One regular expression: an optional RFC 3986 scheme
    and '://', an optional 'www.', then everything up to the first '/', '?', '#' or
    ':'. Nested split_part calls did the same in four passes and were most of the
    cost of classifying a year of sessions (BENCHMARKS.md). The two engines spell
    "first capture group" differently, hence the dispatch.
-#}
{% macro channel_referrer_host(referrer) -%}
    {{ return(adapter.dispatch('channel_referrer_host')(referrer)) }}
{%- endmacro %}

{% macro default__channel_referrer_host(referrer) -%}
    coalesce(substring(lower(trim({{ referrer }})) from '{{ referrer_host_pattern() }}'), '')
{%- endmacro %}

{% macro duckdb__channel_referrer_host(referrer) -%}
    coalesce(regexp_extract(lower(trim({{ referrer }})), '{{ referrer_host_pattern() }}', 1), '')
{%- endmacro %}

{% macro referrer_host_pattern() -%}
    ^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?([^/?#:]*)
{%- endmacro %}
