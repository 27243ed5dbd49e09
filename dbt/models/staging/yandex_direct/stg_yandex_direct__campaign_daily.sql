{{ stage_ad_spend('yandex_direct') }}
