{{ day_grained_incremental_config(['market_code', 'delivery_start_utc', 'side']) }}

{#- Day lineage: the order rows of each schedule (count, newest creation). -#}
{%- set lineage = day_lineage(
    source=ref('stg_griddesk__bid_orders'),
    alias='orders',
    keys=['schedule_id'],
    measures={
        'row_count': ('count(*)', 'count(*)'),
        'created_at_utc': ('max(orders.created_at_utc)', 'max(audit_created_at_utc)'),
    },
) -%}

with

orders as (

    select * from {{ ref('stg_griddesk__bid_orders') }}

),

markets as (

    select * from {{ ref('stg_griddesk__market_reference') }}

),

final as (

    select
        orders.schedule_id,
        orders.market_code,
        orders.delivery_date_local,
        orders.delivery_start_utc,
        {{ local_time_columns('orders.delivery_start_utc', 'markets.timezone') }},
        orders.side,
        orders.volume_mw,
        orders.limit_price_per_mwh,
        orders.limit_price_per_mwh is null as is_price_taker,
        orders.currency,
        orders.status,
        orders.created_at_utc as audit_created_at_utc,
        {{ audit_columns() }}
    from orders
    inner join markets
        on orders.market_code = markets.market_code

)

select * from final
{{ where_lineage_changed(lineage) }}
