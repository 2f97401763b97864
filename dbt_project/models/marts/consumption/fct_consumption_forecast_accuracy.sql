-- Accuracy per meter, model and delivery day, on the hours with a published, non-missing reading.
-- MAPE skips zero actuals (a percentage of zero is undefined) and says how many it skipped.

with

scored as (

    select * from {{ ref('fct_consumption_forecasts') }}
    where actual_kwh is not null and not is_actual_missing

),

sums as (

    select
        market_code,
        meter_id,
        model_name,
        delivery_date_local,
        bool_or(is_champion) as is_champion,
        count(*) as n_hours,
        avg(actual_kwh) as mean_actual_kwh,
        avg(abs(forecast_kwh - actual_kwh)) as mae_kwh,
        sqrt(avg(power(forecast_kwh - actual_kwh, 2))) as rmse_kwh,
        sum(power(forecast_kwh - actual_kwh, 2)) as ss_res,
        avg(abs(forecast_kwh - actual_kwh) / nullif(actual_kwh, 0)) * 100.0 as mape_pct,
        count(*) filter (where actual_kwh = 0) as n_zero_actuals_skipped,
        avg(case when actual_kwh between lower_kwh and upper_kwh then 1.0 else 0.0 end) as interval_coverage
    from scored
    group by market_code, meter_id, model_name, delivery_date_local

),

ss_tot as (

    select
        scored.market_code,
        scored.meter_id,
        scored.model_name,
        scored.delivery_date_local,
        sum(power(scored.actual_kwh - sums.mean_actual_kwh, 2)) as ss_tot
    from scored
    -- USING (sqlfluff ST07 waived): both sides carry the same four key columns, named once
    inner join sums using (market_code, meter_id, model_name, delivery_date_local)  -- noqa: ST07
    group by scored.market_code, scored.meter_id, scored.model_name, scored.delivery_date_local

),

final as (

    select
        sums.market_code,
        sums.meter_id,
        sums.model_name,
        sums.delivery_date_local,
        sums.is_champion,
        sums.n_hours,
        sums.mae_kwh,
        sums.rmse_kwh,
        sums.mape_pct,
        sums.n_zero_actuals_skipped,
        'MAPE skips zero actuals (' || sums.n_zero_actuals_skipped || ' skipped)' as mape_note,
        case when ss_tot.ss_tot > 0 then 1.0 - sums.ss_res / ss_tot.ss_tot end as r2,
        sums.interval_coverage,
        {{ audit_columns() }}
    from sums
    inner join ss_tot using (market_code, meter_id, model_name, delivery_date_local)  -- noqa: ST07

)

select * from final
