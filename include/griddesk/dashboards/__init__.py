"""Dashboards as code: panel queries over the marts (panels), Grafana provisioning (grafana), the local HTML
dashboard (local)."""
