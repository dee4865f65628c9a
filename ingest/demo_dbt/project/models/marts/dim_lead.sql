select
    lead_id::text as lead_id,
    email::text as email,
    company::text as company,
    lead_source::text as lead_source,
    lead_status::text as lead_status,
    lead_score::integer as lead_score,
    lead_status in ('mql', 'sql', 'customer') as is_qualified,
    is_converted::boolean as is_converted,
    converted_account_id::text as converted_account_id,
    email_opt_out::boolean as email_opt_out
from {{ source('staging', 'stg_leads') }}
