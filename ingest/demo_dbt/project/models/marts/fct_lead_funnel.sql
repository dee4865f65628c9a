select
    lead_source,
    lead_status,
    count(*) as lead_count,
    round(avg(lead_score), 1) as average_score,
    sum(case when email_opt_out then 1 else 0 end) as opted_out
from {{ ref('dim_lead') }}
group by lead_source, lead_status
