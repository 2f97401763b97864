"""Airflow Assets naming the warehouse tables the DAGs produce, so the UI shows the data flow."""

from __future__ import annotations

from airflow.sdk import Asset

RAW_PRICES = Asset("griddesk://warehouse/raw/entsoe_day_ahead_prices")
RAW_EXOGENOUS = Asset("griddesk://warehouse/raw/entsoe_exogenous_forecasts")
DQ_RESULTS = Asset("griddesk://warehouse/raw/dq_validation_results")
MARTS = Asset("griddesk://warehouse/marts")
PRICE_FORECASTS = Asset("griddesk://warehouse/raw/price_forecasts")
BID_SCHEDULES = Asset("griddesk://warehouse/raw/bid_schedules")
RAW_FEEDS = Asset("griddesk://warehouse/raw/feeds")
RAW_PLANT_TELEMETRY = Asset("griddesk://warehouse/raw/ckw_plant_telemetry")
OPERATIONS_MARTS = Asset("griddesk://warehouse/marts/operations")
CONSUMPTION_RAW = Asset("griddesk://warehouse/raw/consumption")
CONSUMPTION_MARTS = Asset("griddesk://warehouse/marts/consumption")
