-- Bidding: order sets and their steps, pre-trade compliance, the audit trail, trader controls, executions from the
-- order API, and the strategy backtest. Idempotent; applied after schema.sql by griddesk.warehouse.db.apply_schema.
-- Written through griddesk.bidding.store (the bidding tasks) and by griddesk.reporting.bidding_benchmark.

-- One row per order set: what GridDesk generated for a market and delivery day, and where it stands.
create table if not exists raw.bid_order_sets (
    order_set_id text primary key,           -- <market>|<delivery day>|<strategy>|<forecast model version>
    market_code text not null,
    delivery_date_local date not null,
    schedule_id text not null,               -- raw.bid_schedules.schedule_id of the point-forecast schedule
    strategy text not null,                  -- fixed | curves | exclusive_blocks
    trading_mode text not null,              -- paper | live
    status text not null,                    -- see griddesk.bidding.lifecycle (STATUSES, TRANSITIONS)
    status_reason text not null default '',
    forecast_model_version text not null,
    end_soc_mode text not null,              -- fixed | valued
    end_soc_value_per_mwh double precision,  -- valued mode: worth of one MWh stored at the end of the day
    expected_value double precision not null,  -- optimiser objective, market currency
    currency text not null,
    n_steps integer not null,
    gate_closure_utc timestamptz not null,
    exchange_order_set_id text,              -- the order API's id once submitted
    solve_ms double precision,
    created_at_utc timestamptz not null default now(),
    updated_at_utc timestamptz not null default now()
);

create index if not exists bid_order_sets_market_day on raw.bid_order_sets (market_code, delivery_date_local);

-- The steps of an order set: whole volume and price ticks (volume_ticks x 0.1 MW, price_ticks x 0.01).
create table if not exists raw.bid_order_steps (
    order_set_id text not null references raw.bid_order_sets (order_set_id) on delete cascade,
    market_code text not null,
    delivery_date_local date not null,
    delivery_start_utc timestamptz not null,
    mtu_index smallint not null,
    resolution_minutes smallint not null,
    step_index smallint not null,
    side text not null,                      -- buy | sell
    volume_mw double precision not null,
    volume_ticks integer not null,
    limit_price_per_mwh double precision not null,
    price_ticks bigint not null,
    is_price_taker boolean not null,         -- limit at the market bound: accepted at any price
    acceptance_probability double precision, -- share of the forecast scenarios that accept the step
    currency text not null,
    created_at_utc timestamptz not null default now(),
    primary key (order_set_id, mtu_index, step_index)
);

-- Pre-trade compliance: one row per check per order set.
create table if not exists raw.bid_compliance_results (
    order_set_id text not null references raw.bid_order_sets (order_set_id) on delete cascade,
    check_name text not null,                -- see griddesk.bidding.compliance.CHECKS
    passed boolean not null,
    reason text not null default '',
    checked_at_utc timestamptz not null default now(),
    primary key (order_set_id, check_name)
);

-- The audit trail: who or what did what to an order set, append-only.
create table if not exists raw.bid_audit_events (
    event_id bigserial primary key,
    order_set_id text,                       -- null for events about the controls (kill switch)
    market_code text not null,
    delivery_date_local date,
    event text not null,                     -- see griddesk.bidding.controls.EVENTS
    actor text not null,                     -- e.g. airflow:griddesk_morning.bid, airflow-user:alice, cli:bob
    detail jsonb not null default '{}'::jsonb,
    occurred_at_utc timestamptz not null default now()
);

create index if not exists bid_audit_events_order_set on raw.bid_audit_events (order_set_id);

-- Trader controls: the kill switch, per market or for all ('*').
create table if not exists raw.bid_controls (
    control text not null,                   -- kill_switch
    market_code text not null,               -- a market code or '*'
    is_active boolean not null,
    reason text not null default '',
    set_by text not null,
    set_at_utc timestamptz not null default now(),
    primary key (control, market_code)
);

-- Results of submitted order sets, fetched from the order API after the auction (price-taker clearing).
create table if not exists raw.bid_executions (
    order_set_id text not null references raw.bid_order_sets (order_set_id) on delete cascade,
    exchange_order_set_id text,              -- null: a shadow execution of a paper-mode set (never sent)
    market_code text not null,
    delivery_date_local date not null,
    delivery_start_utc timestamptz not null,
    step_index smallint not null,
    side text not null,
    volume_mw double precision not null,
    limit_price_per_mwh double precision not null,
    clearing_price_per_mwh double precision,
    is_accepted boolean not null,
    accepted_volume_mw double precision not null,
    resolution_minutes smallint not null,
    currency text not null,
    fetched_at_utc timestamptz not null default now(),
    primary key (order_set_id, delivery_start_utc, step_index)
);

-- The strategy backtest: one row per run and market, one row per (run, source, strategy, day).
create table if not exists raw.bid_backtest_runs (
    run_id text primary key,
    market_code text not null,
    test_start date not null,
    test_end date not null,
    n_days integer not null,
    is_full_test_period boolean not null,
    power_mw double precision not null,
    energy_mwh double precision not null,
    battery jsonb not null,
    config jsonb not null,
    forecast_model text not null,            -- GridDesk's source in this run (champion or prophet)
    production_strategy text not null,       -- the strategy the production DAG uses
    currency text not null,
    perfect_foresight_daily_revenue double precision not null,     -- end = start every day (reference protocol)
    perfect_foresight_multiday_revenue double precision not null,  -- hindsight optimum, SoC carried
    wall_seconds double precision not null,
    optimiser_seconds double precision not null,
    started_at_utc timestamptz not null,
    created_at_utc timestamptz not null default now()
);

create table if not exists raw.bid_backtest_days (
    run_id text not null references raw.bid_backtest_runs (run_id) on delete cascade,
    market_code text not null,
    source_name text not null,               -- perfect_foresight | prophet | champion | lear_ens_published | ...
    strategy text not null,                  -- fixed | fixed_valued | curves
    delivery_date_local date not null,
    currency text not null,
    revenue double precision not null,       -- cash: realised price x delivered energy
    degradation_cost double precision not null,
    soc_start_pct double precision not null,
    soc_end_pct double precision not null,
    end_soc_value_per_mwh double precision not null,
    pnl double precision not null,           -- revenue - wear + end-SoC value x SoC change (marked to market)
    charged_mwh double precision not null,
    discharged_mwh double precision not null,
    drawn_mwh double precision not null,     -- energy taken from storage
    trades integer not null,                 -- MTUs with an accepted position
    steps integer not null,                  -- order steps sent
    solve_ms double precision not null,
    is_fallback boolean not null,
    perfect_foresight_revenue double precision not null,  -- the day's daily perfect foresight (end = start)
    created_at_utc timestamptz not null default now(),
    primary key (run_id, source_name, strategy, delivery_date_local)
);

-- The decision per MTU of a schedule (raw.bid_schedules comes from schema.sql): what the battery's energy does,
-- sold | stored | held, or served_consumption (serves the portfolio's load, in the paired market's joint
-- schedule). Null on old rows.
alter table raw.bid_schedules add column if not exists decision text;
-- Shadow executions (paper mode) have no exchange id.
alter table raw.bid_executions alter column exchange_order_set_id drop not null;
-- A joint schedule of the battery and the portfolio (the paired market): the forecast consumption it buys and the
-- excess below one tick bought and not used, MW, so net_position_mw = discharge - charge - consumption - excess.
-- Null on battery-only schedules.
alter table raw.bid_schedules add column if not exists consumption_mw double precision;
alter table raw.bid_schedules add column if not exists excess_mw double precision;
-- The SHA-256 of the steps a compliance verdict was given on (griddesk.bidding.gate.steps_digest), the same on every
-- check row of the order set: the submission gate sends only steps with this hash. Null on old rows (never sent).
alter table raw.bid_compliance_results add column if not exists steps_sha256 text;
-- Exclusive groups of block orders (strategy exclusive_blocks): the block a step belongs to (step_index equals
-- it, one step per block and MTU; at most one block of the set is accepted, whole). Null for any other strategy.
alter table raw.bid_order_steps add column if not exists block_index smallint;
alter table raw.bid_executions add column if not exists block_index smallint;
