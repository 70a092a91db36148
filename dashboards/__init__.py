"""dui-dashboards: Grafana dashboards and Prometheus rules, generated from the collector config."""
