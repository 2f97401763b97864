with

source as (

    select * from {{ source('griddesk_forecasting', 'forecast_model_registry') }}

),

renamed as (

    select

        ----------  ids
        model_id,
        market_code,
        model_name,
        model_family,
        model_version,

        ---------- settings and scores
        hyperparameters,
        training_window_days,
        member_model_names,
        metrics,
        (metrics ->> 'mae')::double precision as backtest_mae_per_mwh,
        (metrics ->> 'rmae_weekly_naive')::double precision as backtest_rmae,
        metrics_test_start,
        metrics_test_end,
        is_champion,

        ---------- timestamps
        created_at_utc,
        updated_at_utc

    from source

)

select * from renamed
