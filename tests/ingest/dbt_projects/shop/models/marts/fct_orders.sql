{{ config(contract={'enforced': true}) }}
select
    o.order_id::integer as order_id,
    o.customer_id::integer as customer_id,
    c.email::text as customer_email,
    o.amount::numeric(10, 2) as amount,
    o.ordered_at::timestamp as ordered_at
from {{ ref('stg_orders') }} o
join {{ ref('stg_customers') }} c on c.customer_id = o.customer_id
