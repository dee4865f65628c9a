select date_trunc('day', ordered_at) as day, sum(amount) as revenue
from {{ source('shop_marts', 'fct_orders') }}
group by 1
