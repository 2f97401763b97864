-- GridDesk operational feeds (griddesk.feeds; docs/feeds.md). Applied after schema.sql at every bootstrap;
-- idempotent. Row tables are append-only: a changed reload of a window is a new batch version, and staging
-- keeps the newest version of every natural key. Row tables have no foreign key to raw.feed_batches on
-- purpose: the loader writes a batch and its rows in one transaction, and a per-row RI trigger would halve
-- the COPY rate. Their primary key starts with batch_id, so each batch appends at the right of the index, and
-- its text key columns use the "C" collation (byte order), which the index compares several times faster than a
-- linguistic collation; no report sorts these ids by language rules.

-- One row per stored batch: (feed, source key, window, version).
create table if not exists raw.feed_batches (
    batch_id bigserial primary key,
    feed text not null,                      -- ckw_dynamic_tariffs | ckw_plant_telemetry | ckw_tra_signals | ...
    source_key text not null,                -- tariff name, plant id, location code, battery id, 'portfolio'
    table_name text not null,                -- the raw row table the batch went to
    window_start_utc timestamptz not null,
    window_end_utc timestamptz not null,
    version integer not null,
    content_sha256 text not null,
    n_rows integer not null,
    n_duplicates_removed integer not null default 0,     -- repeated intervals dropped (first kept)
    n_conflicting_duplicates integer not null default 0, -- ... of which carried other values
    n_gaps integer not null default 0,                   -- runs of missing intervals (raw.feed_gaps)
    n_missing_intervals integer not null default 0,
    published_at_utc timestamptz,            -- when the source published it (if it says)
    extracted_at_utc timestamptz not null,   -- simulated clock of the extraction
    loaded_at_utc timestamptz not null default now(),  -- audit: wall clock
    source_url text not null,                -- request path and parameters, never a token
    unique (feed, source_key, window_start_utc, window_end_utc, version)
);
create index if not exists feed_batches_loaded_at on raw.feed_batches (feed, loaded_at_utc);

-- Missing intervals found in a batch: recorded, never filled.
create table if not exists raw.feed_gaps (
    batch_id bigint not null,
    feed text not null,
    source_key text not null,
    series_key text not null,                -- e.g. meter id, tariff type, location code
    gap_start_utc timestamptz not null,
    gap_end_utc timestamptz not null,        -- exclusive
    n_intervals integer not null,
    reason text not null,                    -- absent | null_value | zero_reading
    primary key (batch_id, series_key, gap_start_utc, reason)
);

-- CKW dynamic tariffs (15-min), as published: CHF/kWh with the currency and unit the API gave. The answer's
-- publication_timestamp describes the whole answer, not a day, so it is kept with the batch (published_at_utc).
create table if not exists raw.ckw_dynamic_tariffs (
    batch_id bigint not null,
    tariff_name text collate "C" not null,               -- home_dynamic | business_dynamic
    tariff_type text collate "C" not null,               -- grid | electricity | integrated | grid_usage
    interval_start_utc timestamptz not null,
    interval_end_utc timestamptz not null,
    price_per_kwh double precision not null, -- in `currency` per kWh, never converted
    currency text not null,                  -- from the unit, e.g. CHF
    unit text not null,                      -- verbatim, e.g. CHF_kWh
    primary key (batch_id, tariff_name, tariff_type, interval_start_utc)
);

-- CKW power plant live telemetry (polled every 5 minutes), German fields renamed, units in the names.
create table if not exists raw.ckw_plant_telemetry (
    batch_id bigint not null,
    plant_id text collate "C" not null,
    measured_at_utc timestamptz not null,    -- zeitstempel
    operating_status text not null,          -- running | stopped | fault | unknown
    operating_status_source text not null,   -- betriebsstatus, verbatim (e.g. 'in Betrieb')
    active_power_mw double precision,        -- wirkleistung
    reactive_power_mvar double precision,    -- blindleistung
    voltage_kv double precision,             -- spannung
    current_a double precision,              -- strom
    wind_speed_kmh double precision,         -- windgeschwindigkeit
    primary key (batch_id, plant_id, measured_at_utc)
);

-- CKW ripple-control (TRA) switching signals, published up to the previous day.
create table if not exists raw.ckw_tra_signals (
    batch_id bigint not null,
    signal_name text collate "C" not null,
    description text not null,
    signal_date_local date not null,         -- Europe/Zurich
    switch_on_utc timestamptz not null,
    switch_off_utc timestamptz not null,
    primary key (batch_id, signal_name, signal_date_local, switch_on_utc)
);

-- Hourly weather observations (ERA5 country averages, Bedford station). Nulls are real gaps.
create table if not exists raw.weather_observations (
    batch_id bigint not null,
    location_code text collate "C" not null,
    valid_time_utc timestamptz not null,     -- instant (temperature, wind); end of the hour (radiation)
    temperature_2m_c double precision,
    wind_speed_10m_m_s double precision,
    shortwave_radiation_w_m2 double precision,  -- mean over the preceding hour
    primary key (batch_id, location_code, valid_time_utc)
);

-- Hourly weather forecasts, one set per issue time.
create table if not exists raw.weather_forecasts (
    batch_id bigint not null,
    location_code text collate "C" not null,
    issued_at_utc timestamptz not null,
    valid_time_utc timestamptz not null,
    temperature_2m_c double precision,
    wind_speed_10m_m_s double precision,
    shortwave_radiation_w_m2 double precision,
    primary key (batch_id, location_code, issued_at_utc, valid_time_utc)
);

-- Battery management system telemetry, 5-minute.
create table if not exists raw.bms_battery_status (
    batch_id bigint not null,
    battery_id text collate "C" not null,
    measured_at_utc timestamptz not null,
    soc_pct double precision,
    active_power_mw double precision,        -- + discharge (to the grid), - charge
    available_charge_power_mw double precision,
    available_discharge_power_mw double precision,
    availability text not null,              -- available | unavailable
    primary key (batch_id, battery_id, measured_at_utc)
);

-- Hourly meter consumption, verbatim: in the source data a 0 marks a missing reading (see staging).
create table if not exists raw.meter_readings (
    batch_id bigint not null,
    meter_id text collate "C" not null,
    interval_start_utc timestamptz not null,
    resolution_minutes smallint not null,
    energy_kwh double precision,
    primary key (batch_id, meter_id, interval_start_utc)
);

-- Reference data, upserted by the extraction tasks.
create table if not exists raw.plants (
    plant_id text primary key,
    plant_name text not null,
    technology text not null,
    rated_power_mw double precision not null,
    timezone text not null,
    operator text not null,
    notes text not null default '',
    updated_at_utc timestamptz not null default now()
);

create table if not exists raw.meters (
    meter_id text primary key,
    site_name text not null,
    timezone text not null,
    unit text not null,
    resolution_minutes smallint not null,
    data_source text not null,
    updated_at_utc timestamptz not null default now()
);

create table if not exists raw.weather_locations (
    location_code text primary key,
    location_name text not null,
    data_source text not null,               -- era5 | midas
    latitude double precision not null,
    longitude double precision not null,
    is_reanalysis boolean not null,          -- ERA5: observations after the fact, never a forecast
    updated_at_utc timestamptz not null default now()
);

-- Every HTTP attempt of every feed client (token requests included). Never a token or a secret.
create table if not exists raw.api_call_log (
    call_id bigserial primary key,
    feed text not null,
    endpoint text not null,                  -- stable label, e.g. ckw.dynamic_prices
    method text not null,
    url_path text not null,
    status_code integer,                     -- null: no answer (timeout, connection error)
    latency_ms double precision not null,
    response_bytes bigint not null,
    error text,                              -- null on success
    attempt integer not null,
    requested_at_utc timestamptz not null,   -- wall clock
    sim_now_utc timestamptz,
    run_id text,
    logged_at_utc timestamptz not null default now()
);
create index if not exists api_call_log_requested_at on raw.api_call_log (requested_at_utc);

-- Retention (griddesk.feeds.retention): rows older than GRIDDESK_FEEDS_RETENTION_DAYS, folded per hour.
create table if not exists raw.api_call_log_hourly (
    feed text not null,
    endpoint text not null,
    hour_start_utc timestamptz not null,
    n_calls integer not null,
    n_success integer not null,
    n_timeouts integer not null,
    n_http_401 integer not null,
    n_http_429 integer not null,
    n_http_5xx integer not null,
    latency_sum_ms double precision not null,
    latency_p50_ms double precision not null,  -- of the first aggregation of the hour (not mergeable)
    latency_p95_ms double precision not null,
    response_bytes bigint not null,
    aggregated_at_utc timestamptz not null default now(),
    primary key (feed, endpoint, hour_start_utc)
);

create table if not exists raw.ckw_plant_telemetry_hourly (
    plant_id text not null,
    hour_start_utc timestamptz not null,
    n_samples integer not null,
    n_running integer not null,
    active_power_sum_mw double precision not null,
    n_active_power integer not null,
    active_power_min_mw double precision,
    active_power_max_mw double precision,
    wind_speed_sum_kmh double precision not null,
    n_wind_speed integer not null,
    aggregated_at_utc timestamptz not null default now(),
    primary key (plant_id, hour_start_utc)
);

create table if not exists raw.bms_battery_status_hourly (
    battery_id text not null,
    hour_start_utc timestamptz not null,
    n_samples integer not null,
    n_available integer not null,
    soc_sum_pct double precision not null,
    n_soc integer not null,
    soc_min_pct double precision,
    soc_max_pct double precision,
    active_power_sum_mw double precision not null,
    n_active_power integer not null,
    aggregated_at_utc timestamptz not null default now(),
    primary key (battery_id, hour_start_utc)
);
