{#- Incremental: a day is rebuilt whenever its executions change (rows, accepted steps, newest fetch). -#}
{{ day_grained_incremental_config(['order_set_id', 'delivery_start_utc', 'step_index']) }}

{#- Day lineage: the execution rows of each order set (count, accepted steps, newest fetch). -#}
{%- set lineage = day_lineage(
    source=ref('stg_griddesk__bid_executions'),
    alias='executions',
    keys=['order_set_id'],
    measures={
        'row_count': ('count(*)', 'count(*)'),
        'accepted_count': ('sum(executions.is_accepted::int)', 'sum(is_accepted::int)'),
        'fetched_at_utc': ('max(executions.fetched_at_utc)', 'max(audit_fetched_at_utc)'),
    },
) -%}

with

executions as (

    select * from {{ ref('stg_griddesk__bid_executions') }}

),

order_sets as (

    select * from {{ ref('stg_griddesk__bid_order_sets') }}

),

markets as (

    select * from {{ ref('stg_griddesk__market_reference') }}

),

joined as (

    select
        executions.order_set_id,
        executions.exchange_order_set_id,
        executions.market_code,
        executions.delivery_date_local,
        executions.delivery_start_utc,
        executions.delivery_start_utc + make_interval(mins => executions.resolution_minutes) as delivery_end_utc,
        executions.resolution_minutes,
        {{ local_time_columns('executions.delivery_start_utc', 'markets.timezone') }},
        executions.step_index,
        executions.block_index,
        executions.side,
        executions.volume_mw,
        executions.limit_price_per_mwh,
        executions.clearing_price_per_mwh,
        executions.is_accepted,
        executions.accepted_volume_mw,
        executions.accepted_volume_mw * executions.resolution_minutes / 60.0 as accepted_energy_mwh,
        executions.currency,
        order_sets.strategy,
        order_sets.trading_mode,
        executions.fetched_at_utc
    from executions
    inner join markets
        on executions.market_code = markets.market_code
    left join order_sets
        on executions.order_set_id = order_sets.order_set_id

),

final as (

    select
        order_set_id,
        exchange_order_set_id,
        market_code,
        delivery_date_local,
        delivery_start_utc,
        delivery_end_utc,
        resolution_minutes,
        {{ local_time_column_names() | join(', ') }},
        step_index,
        block_index,
        side,
        volume_mw,
        limit_price_per_mwh,
        clearing_price_per_mwh,
        is_accepted,
        accepted_volume_mw,
        accepted_energy_mwh,
        -- sold energy earns the clearing price, bought energy pays it
        case when side = 'sell' then 1 else -1 end * accepted_energy_mwh * clearing_price_per_mwh as realised_revenue,
        currency,
        strategy,
        trading_mode,
        -- share of the order set's steps the auction accepted: the bid success rate
        (100.0 * avg(is_accepted::int) over (partition by order_set_id))::double precision
            as order_set_success_rate_pct,
        fetched_at_utc as audit_fetched_at_utc,
        {{ audit_columns() }}
    from joined

)

select * from final
{{ where_lineage_changed(lineage) }}
