"""Battery day-ahead bidding: the battery model, the schedule optimiser (PuLP + CBC) and order derivation.

Pure functions; the Airflow tasks do the I/O around them.
"""

from griddesk.bidding.battery import BatteryConfig
from griddesk.bidding.optimiser import (
    InfeasibleScheduleError,
    ScheduleResult,
    idle_schedule,
    optimise_schedule,
)
from griddesk.bidding.orders import check_schedule_feasible, schedule_to_orders

__all__ = [
    "BatteryConfig",
    "InfeasibleScheduleError",
    "ScheduleResult",
    "check_schedule_feasible",
    "idle_schedule",
    "optimise_schedule",
    "schedule_to_orders",
]
