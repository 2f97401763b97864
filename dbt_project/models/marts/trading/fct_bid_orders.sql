{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['market_code', 'delivery_date_local'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['market_code', 'delivery_start_utc', 'side'], 'unique': true},
            {'columns': ['market_code', 'delivery_date_local']},
        ],
    )
}}

{#- Day lineage: the order rows of each schedule (count, newest creation). -#}
{% set source_lineage %}
    select market_code, delivery_date_local, schedule_id, count(*), max(created_at_utc)
    from {{ ref('stg_griddesk__bid_orders') }}
    group by 1, 2, 3
{% endset %}
{% set built_lineage %}
    select market_code, delivery_date_local, schedule_id, count(*), max(audit_created_at_utc)
    from {{ this }}
    group by 1, 2, 3
{% endset %}

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
{% if is_incremental() %}
where {{ changed_delivery_days(source_lineage, built_lineage) }}
{% endif %}
