"""Consumption forecasting per meter: data-quality flags, Prophet / weekly-naive / gradient-boosting models,
the daily backtest with champion selection, and the warehouse I/O around them (docs/consumption.md)."""
