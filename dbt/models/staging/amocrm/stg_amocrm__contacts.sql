{{ stage_crm_contacts('amocrm') }}
