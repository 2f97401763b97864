-- Forecasting: the model registry, stored backtests (computed once, reused) and champion decisions.
-- Idempotent; applied after schema.sql by griddesk.warehouse.db.apply_schema. Written by griddesk.forecasting.

-- One row per (market, model): what the model is, its settings and training window, its latest backtest metrics,
-- and whether it is the market's champion (the model production forecasts come from).
create table if not exists raw.forecast_model_registry (
    model_id text primary key,               -- <market>/<model name>/<digest of version and settings>
    market_code text not null,
    model_name text not null,                -- e.g. prophet, lear_1456, ensemble, weekly_naive
    model_family text not null,              -- prophet | lear | ensemble | naive
    model_version text not null,             -- code and settings version, e.g. lear/v1/1a2b3c4d
    hyperparameters jsonb not null default '{}'::jsonb,
    training_window_days integer not null,   -- days of history each daily recalibration uses (0: none)
    member_model_names text[] not null default '{}',  -- ensembles: the models they combine
    metrics jsonb,                           -- latest backtest metrics (mae, rmae, smape_pct, rmse, ...)
    metrics_test_start date,
    metrics_test_end date,
    is_champion boolean not null default false,
    created_at_utc timestamptz not null default now(),
    updated_at_utc timestamptz not null default now()
);

-- At most one champion per market.
create unique index if not exists forecast_model_registry_one_champion
    on raw.forecast_model_registry (market_code) where is_champion;

-- Backtest forecasts, one row per model and delivery MTU (real local days: 23/24/25 hours). The cache of the
-- backtest runner: a (model, day) present here is never recomputed. Intervals are null until calibrated.
create table if not exists raw.forecast_backtest_forecasts (
    model_id text not null references raw.forecast_model_registry (model_id),
    market_code text not null,
    delivery_date_local date not null,
    delivery_start_utc timestamptz not null,
    resolution_minutes smallint not null,
    forecast_price_per_mwh double precision not null,
    lower_price_per_mwh double precision,
    upper_price_per_mwh double precision,
    interval_width_pct smallint not null,
    interval_method text,                    -- model (the model's own) | empirical (past residual quantiles)
    currency text not null,
    cutoff_utc timestamptz not null,         -- gate closure on D-1: nothing published later was used
    created_at_utc timestamptz not null default now(),
    primary key (model_id, delivery_start_utc)
);

create index if not exists forecast_backtest_forecasts_market_day
    on raw.forecast_backtest_forecasts (market_code, delivery_date_local);

-- One row per model and delivery day: the training window and what the day cost.
create table if not exists raw.forecast_backtest_days (
    model_id text not null references raw.forecast_model_registry (model_id),
    market_code text not null,
    delivery_date_local date not null,
    cutoff_utc timestamptz not null,
    training_start_utc timestamptz,          -- null for models without training (naive, ensembles)
    training_end_utc timestamptz,
    n_training_rows integer,
    compute_seconds double precision not null,  -- wall time of the day's fit and predict, one process
    is_warm_start boolean not null default false,
    created_at_utc timestamptz not null default now(),
    primary key (model_id, delivery_date_local)
);

-- One row per backtest run of a market.
create table if not exists raw.forecast_backtest_runs (
    run_id text primary key,
    market_code text not null,
    test_start date not null,
    test_end date not null,
    n_test_days integer not null,
    warmup_days integer not null,
    is_full_test_period boolean not null,
    model_ids text[] not null,
    computed_model_days integer not null,    -- (model, day) pairs computed in this run
    reused_model_days integer not null,      -- pairs found in raw.forecast_backtest_forecasts
    compute_seconds_by_model jsonb not null, -- summed per-day compute time of every model's stored days
    wall_seconds double precision,
    started_at_utc timestamptz not null,
    finished_at_utc timestamptz
);

-- Champion decisions per market and delivery day, replayed over the backtest (and made daily in production).
create table if not exists raw.forecast_champion_decisions (
    market_code text not null,
    delivery_date_local date not null,       -- the day the champion forecasts
    champion_model_id text not null references raw.forecast_model_registry (model_id),
    incumbent_model_id text not null,        -- champion of the day before
    best_challenger_model_id text,
    incumbent_rolling_mae double precision,  -- over the window of days before the cut-off
    best_challenger_rolling_mae double precision,
    rolling_window_days integer not null,
    margin_pct double precision not null,    -- a challenger must beat the incumbent's MAE by this much
    is_switch boolean not null,
    reason text not null,
    run_id text,
    decided_at_utc timestamptz not null default now(),
    primary key (market_code, delivery_date_local)
);

-- The champion rule's metric (ChampionPolicy.metric): mae fills the *_rolling_mae columns, money the regret ones
-- (1 - PoP of the fixed schedule over the window, a share).
alter table raw.forecast_champion_decisions add column if not exists champion_metric text not null default 'mae';
alter table raw.forecast_champion_decisions add column if not exists incumbent_rolling_regret double precision;
alter table raw.forecast_champion_decisions add column if not exists best_challenger_rolling_regret double precision;

-- Production forecasts name the registry model that produced them (the champion, or the fallback Prophet).
alter table raw.price_forecasts
    add column if not exists model_id text references raw.forecast_model_registry (model_id);
