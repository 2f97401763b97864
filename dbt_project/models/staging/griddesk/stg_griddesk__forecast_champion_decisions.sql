with

source as (

    select * from {{ source('griddesk_forecasting', 'forecast_champion_decisions') }}

),

renamed as (

    select

        ----------  ids
        market_code,
        champion_model_id,
        incumbent_model_id,
        best_challenger_model_id,
        run_id,

        ---------- numerics
        incumbent_rolling_mae as incumbent_rolling_mae_per_mwh,
        best_challenger_rolling_mae as best_challenger_rolling_mae_per_mwh,
        incumbent_rolling_regret,
        best_challenger_rolling_regret,
        champion_metric,
        rolling_window_days,
        margin_pct,
        is_switch,
        reason,

        ---------- dates and timestamps
        delivery_date_local,
        decided_at_utc

    from source

)

select * from renamed
