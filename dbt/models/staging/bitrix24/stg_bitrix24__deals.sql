{{ stage_crm_deals('bitrix24') }}
