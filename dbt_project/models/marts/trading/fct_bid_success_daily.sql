{#- Bid success per market, delivery day and kind of execution: the share of offered volume and of order steps
    the auction accepted. Built on fct_bid_executions. Shadow executions (is_shadow: the simulated exchange's
    clearing of a paper-mode order set, which was never sent) get rows of their own, so live and paper success
    are never mixed. -#}

with

executions as (

    select * from {{ ref('fct_bid_executions') }}

),

final as (

    select
        market_code,
        delivery_date_local,
        coalesce(trading_mode = 'paper', false) as is_shadow,
        currency,
        count(distinct order_set_id)::integer as order_set_count,
        count(*)::integer as order_count,
        count(*) filter (where is_accepted)::integer as accepted_order_count,
        (count(*) filter (where is_accepted))::double precision / nullif(count(*), 0) as order_success_rate,
        sum(volume_mw * resolution_minutes / 60.0 order by delivery_start_utc, order_set_id, step_index)
            as offered_energy_mwh,
        sum(accepted_energy_mwh order by delivery_start_utc, order_set_id, step_index) as accepted_energy_mwh,
        sum(accepted_energy_mwh order by delivery_start_utc, order_set_id, step_index)
        / nullif(sum(volume_mw * resolution_minutes / 60.0 order by delivery_start_utc, order_set_id, step_index), 0)
            as volume_success_rate,
        sum(volume_mw * resolution_minutes / 60.0) filter (where side = 'buy') as offered_buy_energy_mwh,
        sum(accepted_energy_mwh) filter (where side = 'buy') as accepted_buy_energy_mwh,
        sum(volume_mw * resolution_minutes / 60.0) filter (where side = 'sell') as offered_sell_energy_mwh,
        sum(accepted_energy_mwh) filter (where side = 'sell') as accepted_sell_energy_mwh,
        sum(realised_revenue order by delivery_start_utc, order_set_id, step_index) as realised_revenue,
        {{ audit_columns() }}
    from executions
    group by
        market_code,
        delivery_date_local,
        coalesce(trading_mode = 'paper', false),
        currency

)

select * from final
