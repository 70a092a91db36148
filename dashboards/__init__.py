"""dui-dashboards: Grafana dashboards and Prometheus rules (not yet in this version)."""
