{{ stage_ad_spend('google_ads') }}
