"""The alerting rules, their promtool tests and Grafana twin (python -m prometheus.alerts)."""
