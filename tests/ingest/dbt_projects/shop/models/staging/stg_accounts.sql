-- depends_on: {{ source('crm', 'accounts') }}
select 1::bigint as account_id, 'Acme'::text as account_name
