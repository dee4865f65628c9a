select lead_id, email, company, lead_score
from {{ ref('dim_lead') }}
where lead_status = 'mql' and not is_converted and not email_opt_out
