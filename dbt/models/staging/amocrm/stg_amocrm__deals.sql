{{ stage_crm_deals('amocrm') }}
