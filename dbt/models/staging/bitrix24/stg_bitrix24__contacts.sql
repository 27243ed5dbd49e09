{{ stage_crm_contacts('bitrix24') }}
