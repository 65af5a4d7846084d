"""Panel builders for grafana/dashboard.py: Grafana's dashboard JSON, by hand.

Every panel queries the ``${datasource}`` variable; ``F`` / ``FD`` are the
label filters every selector carries (job and instance; and dependency).
``Layout`` places panels left to right in rows of 24 grid units.
"""

from __future__ import annotations

from typing import Any

DS = {"type": "prometheus", "uid": "${datasource}"}
F = 'job=~"$job", instance=~"$instance", vnet=~"$vnet", region=~"$region"'
FD = F + ', dependency=~"$dependency"'
RATE = "$__rate_interval"

Json = dict[str, Any]

OK_FAIL = [{"type": "value", "options": {
    "1": {"text": "OK", "color": "green", "index": 0},
    "0": {"text": "FAIL", "color": "red", "index": 1}}}]

DNS_STATUS = [{"type": "value", "options": {
    "ok": {"text": "ok", "color": "green", "index": 0},
    "nxdomain": {"text": "NXDOMAIN", "color": "red", "index": 1},
    "nodata": {"text": "NODATA", "color": "orange", "index": 2},
    "servfail": {"text": "SERVFAIL", "color": "red", "index": 3},
    "refused": {"text": "REFUSED", "color": "red", "index": 4},
    "timeout": {"text": "timeout", "color": "dark-red", "index": 5},
    "error": {"text": "error", "color": "dark-red", "index": 6}}}]

TCP_STATE = [{"type": "value", "options": {
    "open": {"color": "green", "index": 0},
    "closed": {"color": "orange", "index": 1},
    "filtered": {"color": "red", "index": 2},
    "unresolved": {"color": "purple", "index": 3},
    "unusable": {"color": "dark-red", "index": 4}}}]

SEVERITY = [{"type": "value", "options": {
    "critical": {"color": "red", "index": 0},
    "warning": {"color": "orange", "index": 1},
    "info": {"color": "blue", "index": 2}}}]


def steps(*pairs: tuple[float | None, str]) -> Json:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in pairs]}


def target(expr: str, ref: str = "A", legend: str = "", *, instant: bool = False,
           fmt: str = "time_series") -> Json:
    out: Json = {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend,
                 "range": not instant, "instant": instant, "format": fmt}
    if fmt == "heatmap":
        out["legendFormat"] = legend or "{{le}}"
    return out


class Layout:
    """Panels in reading order; rows of 24 grid units, new row when full."""

    def __init__(self) -> None:
        self.panels: list[Json] = []
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({"type": "row", "id": self._id(), "title": title, "collapsed": False,
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "panels": []})
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(self, panel: Json, w: int, h: int) -> Json:
        if self.x + w > 24:
            self._newline()
        panel = {"id": self._id(), "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
                 **panel}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel


def panel(kind: str, title: str, description: str, targets: list[Json], *,
          unit: str | None = None, mappings: list[Json] | None = None,
          thresholds: Json | None = None, options: Json | None = None,
          custom: Json | None = None, transformations: list[Json] | None = None,
          overrides: list[Json] | None = None, extra: Json | None = None,
          min_: float | None = None, max_: float | None = None) -> Json:
    defaults: Json = {}
    if unit:
        defaults["unit"] = unit
    if mappings is not None:
        defaults["mappings"] = mappings
    defaults["thresholds"] = thresholds or steps((None, "green"))
    defaults["color"] = {"mode": "thresholds" if kind in ("stat", "table", "state-timeline")
                         else "palette-classic"}
    if custom:
        defaults["custom"] = custom
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    out: Json = {"type": kind, "title": title, "description": description, "datasource": DS,
                 "targets": targets,
                 "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
                 "options": options or {}}
    if transformations:
        out["transformations"] = transformations
    if extra:
        out.update(extra)
    return out


def stat(title: str, description: str, expr: str, *, unit: str = "none",
         thresholds: Json | None = None, mappings: list[Json] | None = None,
         legend: str = "") -> Json:
    return panel("stat", title, description, [target(expr, legend=legend, instant=True)],
                 unit=unit, thresholds=thresholds, mappings=mappings,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                            "values": False},
                          "colorMode": "background", "graphMode": "none",
                          "textMode": "auto", "justifyMode": "center"})


def timeseries(title: str, description: str, targets: list[Json], *, unit: str = "none",
               stack: bool = False, min_: float | None = None,
               max_: float | None = None) -> Json:
    custom: Json = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if stack else 0,
                    "showPoints": "never", "spanNulls": False}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    return panel("timeseries", title, description, targets, unit=unit, custom=custom,
                 min_=min_, max_=max_,
                 options={"legend": {"displayMode": "table", "placement": "right",
                                     "calcs": ["lastNotNull", "max"]},
                          "tooltip": {"mode": "multi", "sort": "desc"}})


def table(title: str, description: str, targets: list[Json], *,
          mappings: list[Json] | None = None, transformations: list[Json] | None = None,
          overrides: list[Json] | None = None, cell: str = "color-text",
          extra: Json | None = None) -> Json:
    return panel("table", title, description, targets, mappings=mappings,
                 transformations=transformations, overrides=overrides,
                 custom={"cellOptions": {"type": cell}, "align": "auto", "filterable": True},
                 options={"showHeader": True, "cellHeight": "sm",
                          "footer": {"show": False, "reducer": ["sum"], "fields": ""}},
                 extra=extra)


def organize(hide: list[str], rename: dict[str, str] | None = None,
             order: list[str] | None = None) -> Json:
    return {"id": "organize", "options": {
        "excludeByName": dict.fromkeys(hide, True),
        "renameByName": rename or {},
        "indexByName": {name: i for i, name in enumerate(order or [])}}}


def column(name: str, **props: Any) -> Json:
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": k, "value": v} for k, v in props.items()]}


def state_timeline(title: str, description: str, targets: list[Json]) -> Json:
    """OK (green) / FAIL (red) bands over time, one per series."""
    return panel("state-timeline", title, description, targets,
                 mappings=OK_FAIL, thresholds=steps((None, "red"), (1, "green")),
                 custom={"fillOpacity": 80, "lineWidth": 0},
                 options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                          "legend": {"showLegend": False}})
