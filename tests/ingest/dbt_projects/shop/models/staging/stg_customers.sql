select id as customer_id, lower(email) as email, first_name, country as country_code
from {{ ref('raw_customers') }}
