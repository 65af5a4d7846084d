"""The Grafana dashboard generator (python -m grafana.dashboard) and its panel builders."""
