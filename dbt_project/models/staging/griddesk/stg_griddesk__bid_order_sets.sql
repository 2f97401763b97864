with

source as (

    select * from {{ source('griddesk_bidding', 'bid_order_sets') }}

),

renamed as (

    select

        ----------  ids
        order_set_id,
        market_code,
        schedule_id,
        exchange_order_set_id,

        ---------- order set
        strategy,
        trading_mode,
        status,
        status_reason,
        forecast_model_version,
        end_soc_mode,
        end_soc_value_per_mwh,
        expected_value,
        currency,
        n_steps,
        solve_ms,

        ---------- dates and timestamps
        delivery_date_local,
        gate_closure_utc,
        created_at_utc,
        updated_at_utc

    from source

)

select * from renamed
