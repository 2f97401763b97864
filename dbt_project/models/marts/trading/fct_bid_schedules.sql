{#- Incremental: a day is rebuilt whenever its schedule or the version of its realised prices changes. -#}
{{ day_grained_incremental_config(['market_code', 'delivery_start_utc']) }}

{{ assert_built_with_current_as_of(ref('int_entsoe_deliveries_visible_as_of')) }}

{#- Day lineage: the schedule rows (count, newest creation) and the version of the day's prices. -#}
{%- set lineage = day_lineage(
    source=ref('stg_griddesk__bid_schedules'),
    alias='schedules',
    keys=['schedule_id'],
    measures={
        'row_count': ('count(*)', 'count(*)'),
        'created_at_utc': ('max(schedules.created_at_utc)', 'max(audit_created_at_utc)'),
    },
    realised_price_version='realised_price_version',
) -%}

with

schedules as (

    select * from {{ ref('stg_griddesk__bid_schedules') }}

),

markets as (

    select * from {{ ref('stg_griddesk__market_reference') }}

),

prices as (

    select * from {{ ref('int_day_ahead_prices_unioned') }}

),

joined as (

    select
        schedules.schedule_id,
        schedules.market_code,
        schedules.delivery_date_local,
        schedules.delivery_start_utc,
        schedules.delivery_start_utc + make_interval(mins => schedules.resolution_minutes) as delivery_end_utc,
        schedules.mtu_index,
        schedules.resolution_minutes,
        {{ local_time_columns('schedules.delivery_start_utc', 'markets.timezone') }},
        schedules.action,
        schedules.energy_decision,
        schedules.charge_mw,
        schedules.discharge_mw,
        schedules.net_position_mw,
        schedules.consumption_mw,
        schedules.excess_mw,
        schedules.net_position_mw * schedules.resolution_minutes / 60.0 as net_energy_mwh,
        schedules.soc_mwh,
        schedules.soc_pct,
        schedules.forecast_price_per_mwh,
        schedules.currency,
        schedules.expected_revenue,
        schedules.forecast_model_version,
        schedules.battery_power_mw,
        schedules.battery_energy_mwh,
        schedules.created_at_utc,
        prices.price_per_mwh as realised_price_per_mwh,
        prices.version as realised_price_version,
        prices.loaded_at_utc as realised_price_loaded_at_utc
    from schedules
    inner join markets
        on schedules.market_code = markets.market_code
    left join prices
        on
            schedules.market_code = prices.market_code
            and schedules.delivery_start_utc = prices.delivery_start_utc
            and schedules.resolution_minutes = prices.resolution_minutes

),

final as (

    select
        schedule_id,
        market_code,
        delivery_date_local,
        delivery_start_utc,
        delivery_end_utc,
        mtu_index,
        resolution_minutes,
        {{ local_time_column_names() | join(', ') }},
        action,
        energy_decision,
        charge_mw,
        discharge_mw,
        net_position_mw,
        consumption_mw,
        excess_mw,
        net_energy_mwh,
        soc_mwh,
        soc_pct,
        forecast_price_per_mwh,
        currency,
        expected_revenue,
        forecast_model_version,
        battery_power_mw,
        battery_energy_mwh,
        created_at_utc as audit_created_at_utc,
        realised_price_per_mwh,
        realised_price_version,
        realised_price_per_mwh is not null as has_realised_price,
        -- sold energy earns the price, bought energy pays it (net_position_mw is + sell, - buy)
        net_energy_mwh * realised_price_per_mwh as realised_revenue,
        realised_price_loaded_at_utc as audit_realised_price_loaded_at_utc,
        {{ audit_columns() }}
    from joined

)

select * from final
{{ where_lineage_changed(lineage) }}
