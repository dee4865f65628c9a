select
    id as order_id,
    customer_id,
    status as order_status,
    amount::numeric(10, 2) as amount,
    ordered_at::timestamp as ordered_at
from {{ ref('raw_orders') }}
