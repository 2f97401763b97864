-- GridDesk raw schema: what the extraction and Python tasks write. dbt reads it as sources.
-- Idempotent: applied at every bootstrap. Point-in-time: nothing here is ever updated in place;
-- a changed publication is a new version.
create schema if not exists raw;

-- Market reference data, written from griddesk.markets at bootstrap (replaced whole).
create table if not exists raw.market_reference (
    market_code text primary key,
    market_name text not null,
    bidding_zone_eic text not null,
    timezone text not null,
    currency text not null,
    mtu_minutes smallint not null,
    gate_closure_local time not null,
    price_publication_local time not null,
    exogenous_publication_local time not null,
    is_tradable boolean not null,
    notes text not null default ''
);

create table if not exists raw.market_price_bounds (
    market_code text not null,
    valid_from date not null,
    valid_to date,
    min_price_per_mwh double precision not null,
    max_price_per_mwh double precision not null,
    source text not null,
    primary key (market_code, valid_from)
);

-- One row per stored delivery: (feed, market, series, delivery day, version).
create table if not exists raw.entsoe_deliveries (
    delivery_id bigserial primary key,
    feed text not null,                      -- day_ahead_prices | exogenous_forecasts
    market_code text not null,
    series_code text not null,               -- 'price' or the exogenous series code
    delivery_date_local date not null,
    version integer not null,
    content_sha256 text not null,
    n_points integer not null,
    document_mrid text,
    revision_number integer,
    document_created_utc timestamptz,
    published_at_utc timestamptz not null,   -- when this version became public
    extracted_at_utc timestamptz not null,   -- simulated clock of the extraction
    loaded_at_utc timestamptz not null default now(),  -- audit: wall clock
    source_url text not null,                -- request URL, without the securityToken
    unique (feed, market_code, series_code, delivery_date_local, version)
);

create table if not exists raw.entsoe_day_ahead_prices (
    delivery_id bigint not null references raw.entsoe_deliveries (delivery_id),
    market_code text not null,
    delivery_date_local date not null,
    delivery_start_utc timestamptz not null,
    resolution_minutes smallint not null,
    price_per_mwh double precision not null,
    currency text not null,
    is_imputed boolean not null default false,  -- e.g. the dataset's averaged autumn DST hour
    version integer not null,
    published_at_utc timestamptz not null,
    primary key (market_code, delivery_start_utc, version)
);

create table if not exists raw.entsoe_exogenous_forecasts (
    delivery_id bigint not null references raw.entsoe_deliveries (delivery_id),
    market_code text not null,
    series_code text not null,
    document_type text not null,
    domain_eic text not null,
    delivery_date_local date not null,
    delivery_start_utc timestamptz not null,
    resolution_minutes smallint not null,
    quantity_mw double precision not null,
    is_imputed boolean not null default false,
    version integer not null,
    published_at_utc timestamptz not null,
    primary key (market_code, series_code, delivery_start_utc, version)
);

-- Publications the loader refused (griddesk.warehouse.loader.LoadError): nothing of them is stored above, but the
-- refusal is, so the quality gate can block the market-day and say why. One row per refused attempt.
create table if not exists raw.entsoe_delivery_refusals (
    refusal_id bigserial primary key,
    feed text not null,
    market_code text not null,
    series_code text not null,
    delivery_date_local date not null,
    reason text not null,                    -- the loader's message: what, where, which values
    revision_number integer,
    document_created_utc timestamptz,
    extracted_at_utc timestamptz not null,   -- simulated clock of the extraction
    refused_at_utc timestamptz not null default now(),  -- wall clock, comparable with loaded_at_utc
    source_url text not null                 -- request URL, without the securityToken
);

-- Written by the forecast task: one row per market, delivery MTU and forecast run.
create table if not exists raw.price_forecasts (
    forecast_run_id text not null,           -- market|delivery date|model version
    market_code text not null,
    delivery_date_local date not null,
    delivery_start_utc timestamptz not null,
    resolution_minutes smallint not null,
    forecast_price_per_mwh double precision not null,
    lower_price_per_mwh double precision not null,
    upper_price_per_mwh double precision not null,
    interval_width_pct smallint not null,
    currency text not null,
    model_family text not null,
    model_version text not null,
    training_start_utc timestamptz not null,
    training_end_utc timestamptz not null,
    cutoff_utc timestamptz not null,
    created_at_utc timestamptz not null default now(),
    primary key (market_code, delivery_start_utc, model_version)
);

-- Written by the bidding task: the battery schedule and the orders derived from it.
create table if not exists raw.bid_schedules (
    schedule_id text not null,
    market_code text not null,
    delivery_date_local date not null,
    delivery_start_utc timestamptz not null,
    mtu_index smallint not null,
    resolution_minutes smallint not null,
    action text not null,                    -- charge | discharge | idle
    charge_mw double precision not null,
    discharge_mw double precision not null,
    net_position_mw double precision not null,  -- + sell, - buy
    soc_mwh double precision not null,       -- at the end of the MTU
    soc_pct double precision not null,
    forecast_price_per_mwh double precision not null,
    currency text not null,
    expected_revenue double precision not null,
    forecast_model_version text not null,
    battery_power_mw double precision not null,
    battery_energy_mwh double precision not null,
    created_at_utc timestamptz not null default now(),
    primary key (market_code, delivery_start_utc)
);

create table if not exists raw.bid_orders (
    schedule_id text not null,
    market_code text not null,
    delivery_date_local date not null,
    delivery_start_utc timestamptz not null,
    side text not null,                      -- buy | sell
    volume_mw double precision not null,
    limit_price_per_mwh double precision,    -- null: price-taker order
    currency text not null,
    status text not null,                    -- recorded (paper) | submitted | rejected
    created_at_utc timestamptz not null default now(),
    primary key (market_code, delivery_start_utc, side)
);

-- Great Expectations results, one row per expectation per validated (suite, market, delivery day).
create table if not exists raw.dq_validation_results (
    run_id text not null,
    suite_name text not null,
    expectation_type text not null,
    expectation_id text not null,
    severity text not null,                  -- critical | warning
    market_code text not null,
    delivery_date_local date not null,
    success boolean not null,
    observed_value text,
    expected text,
    validated_at_utc timestamptz not null default now(),
    primary key (run_id, suite_name, market_code, delivery_date_local, expectation_id)
);

-- Sent alerts, so a retry or a rerun never sends the same email twice.
create table if not exists raw.alerts_sent (
    alert_key text primary key,              -- kind|suite|market|delivery day
    kind text not null,
    subject text not null,
    recipients text not null,
    sent_at_utc timestamptz not null default now()
);
