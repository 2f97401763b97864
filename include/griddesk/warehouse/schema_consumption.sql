-- Consumption forecasting per meter and the portfolio's buy bids (griddesk.consumption, griddesk.bidding.portfolio;
-- docs/consumption.md). Idempotent; applied after schema.sql by griddesk.warehouse.db.apply_schema.
-- No foreign key to raw.forecast_model_registry: that table comes from schema_forecasting.sql, applied later.

-- One row per meter and delivery day: what training did (trained | skipped | failed) and why.
create table if not exists raw.consumption_training_runs (
    market_code text not null,               -- the paired market whose delivery day and cut-off are used
    meter_id text not null,
    delivery_date_local date not null,
    cutoff_utc timestamptz not null,
    status text not null check (status in ('trained', 'skipped', 'failed')),
    reason text,                             -- why skipped or failed; null when trained
    is_clean boolean,                        -- the meter's data-quality verdict at the cut-off
    n_clean_hours integer,
    flag_counts jsonb,                       -- hours per data-quality flag in the history known at the cut-off
    level_shifts jsonb,
    refitted_models text[] not null default '{}',  -- models refit this run (others reused their last fit)
    champion_model_name text,
    champion_reason text,
    run_id text,
    audit_recorded_at_utc timestamptz not null default now(),
    primary key (market_code, meter_id, delivery_date_local)
);

-- Fitted models per meter (pickled, with the model code version they were fitted by), reused until the refit cadence says otherwise.
create table if not exists raw.consumption_model_fits (
    meter_id text not null,
    model_name text not null,                -- prophet | gbm | gbm_median | weekly_naive
    model_id text not null,                  -- registry id
    fitted_for_date date not null,           -- the delivery day whose cut-off the training data ended at
    training_end_utc timestamptz not null,
    n_training_rows integer not null,
    payload bytea not null,
    audit_fitted_at_utc timestamptz not null default now(),
    primary key (meter_id, model_name)
);

-- Hourly forecasts per meter and model for a delivery day, all from data published by the cut-off.
create table if not exists raw.consumption_forecasts (
    market_code text not null,
    meter_id text not null,
    model_name text not null,
    model_id text not null,
    delivery_date_local date not null,       -- local day of the paired market
    interval_start_utc timestamptz not null,
    forecast_kwh double precision not null,
    lower_kwh double precision,
    upper_kwh double precision,
    interval_width_pct smallint not null,
    interval_method text not null,           -- model (Prophet's own) | empirical (past errors' quantiles)
    is_champion boolean not null,
    cutoff_utc timestamptz not null,         -- gate closure on D-1
    weather_issued_at_utc timestamptz,       -- issue time of the temperature forecast used
    is_oracle_weather boolean not null default false check (not is_oracle_weather),  -- never in production
    run_id text,
    audit_created_at_utc timestamptz not null default now(),
    primary key (market_code, meter_id, model_name, interval_start_utc)
);
create index if not exists consumption_forecasts_day on raw.consumption_forecasts (market_code, delivery_date_local);

-- The portfolio's joint day-ahead position with the battery, per MTU, and the decision taken.
create table if not exists raw.portfolio_bids (
    market_code text not null,
    delivery_date_local date not null,
    delivery_start_utc timestamptz not null,
    mtu_minutes smallint not null,
    consumption_forecast_mwh double precision not null,  -- sum of the meters' champion forecasts
    buy_mwh double precision not null,
    sell_mwh double precision not null,
    position_mwh double precision not null,  -- buy - sell: the day-ahead bid volume (+ buy)
    charge_mwh double precision not null,
    discharge_to_load_mwh double precision not null,
    discharge_to_grid_mwh double precision not null,
    soc_mwh double precision not null,       -- end of the MTU
    price_forecast_per_mwh double precision not null,
    currency text not null,
    decision text not null check (decision in ('sell', 'consume', 'store', 'buy')),
    n_meters integer not null,
    cutoff_utc timestamptz not null,
    run_id text,
    audit_created_at_utc timestamptz not null default now(),
    primary key (market_code, delivery_start_utc)
);
-- The morning schedule (raw.bid_schedules.schedule_id) the joint bid became; compliance reads its consumption.
alter table raw.portfolio_bids add column if not exists schedule_id text;
