#!/usr/bin/env python3
"""gen-dashboard.py — rustymem's Grafana dashboard from one description (ADR 0028).

Writes
  - deploy/grafana/rustymem.json: the dashboard (import it in Grafana, or
    provision it from a file);
  - deploy/kubernetes/base/grafana-dashboard.yaml: the same JSON in a
    ConfigMap labelled grafana_dashboard: "1", which the Grafana sidecar of
    kube-prometheus-stack (or the grafana Helm chart) loads.
Both come from the PANELS below, so the file and the ConfigMap cannot drift,
and every query uses the same template variables: $datasource, $job and
$node (the `node` label the ServiceMonitor sets; add it to a static scrape
config as docs/exporter.md shows).

A target may carry "rustymemEmptyOk": "<why>" — an expression that is
legitimately empty while nothing happened (no node heading for critical).
tests/integration/test_grafana_dashboard.sh runs every expression against a
real Prometheus scraping a loaded agent and requires data from all others.

usage: scripts/gen-dashboard.py [--check] [--root DIR]
  --check   write nothing; exit 1 naming every file that differs
Exit 0 when up to date (or written), 1 on a difference, 2 on a usage error.
"""
import argparse
import json
import os
import sys

import genfiles  # scripts/genfiles.py: the write-or-check step

DASHBOARD = "deploy/grafana/rustymem.json"
CONFIGMAP = "deploy/kubernetes/base/grafana-dashboard.yaml"

DS = {"type": "prometheus", "uid": "${datasource}"}
FLEET = 'job=~"$job"'
NODE = 'job=~"$job", node=~"$node"'
RATE = "$__rate_interval"
LEVELS = {"1": "monitor", "2": "gentle", "3": "aggressive", "4": "emergency", "5": "oom_prevention"}


def t(expr, legend="", empty_ok=None, instant=False):
    d = {"expr": expr, "legendFormat": legend}
    if instant:
        d["instant"] = True
        d["range"] = False
    if empty_ok:
        d["rustymemEmptyOk"] = empty_ok
    return d


def level_mappings():
    return [{"type": "value", "options": {k: {"text": v, "index": i} for i, (k, v) in enumerate(LEVELS.items())}}]


# (row title, [(panel type, title, description, unit, width, height, [targets], extra fieldConfig defaults)])
PANELS = [
    ("Fleet overview", [
        ("stat", "Agents up", "Agents whose exporter can read them (rustymem_up) out of all scraped.", "short", 4, 5, [
            t(f"sum(rustymem_up{{{FLEET}}})", "up", instant=True),
            t(f"count(rustymem_up{{{FLEET}}})", "scraped", instant=True),
        ], {}),
        ("bargauge", "Nodes by pressure level", "How many nodes are at each pressure level now "
         "(1 monitor … 5 oom_prevention).", "short", 6, 5, [
            t(f'count_values("level", rustymem_forecast_current_level{{{FLEET}}})', "level {{level}}",
              instant=True),
        ], {}),
        ("table", "Time to critical", "Nodes the forecaster sees crossing pressure.critical_threshold, "
         "soonest first; has_time_to_critical is 1 for them.", "s", 7, 5, [
            t(f"sort(rustymem_forecast_time_to_critical_seconds{{{FLEET}}})", "{{node}}", instant=True,
              empty_ok="the series exists only while a node is predicted to reach critical; a calm fleet has none"),
            t(f"max by (node) (rustymem_forecast_has_time_to_critical{{{FLEET}}})", "{{node}}", instant=True),
        ], {}),
        ("bargauge", "Top usage", "The ten nodes with the highest usage (used / budget).", "percentunit", 7, 5, [
            t(f"topk(10, rustymem_forecast_usage_ratio{{{FLEET}}})", "{{node}}", instant=True),
        ], {"min": 0, "max": 1}),
        ("timeseries", "Usage by node", "Used memory / budget per node, with the warning and critical "
         "thresholds of the knobs.", "percentunit", 24, 7, [
            t(f"rustymem_forecast_usage_ratio{{{FLEET}}}", "{{node}}"),
            t(f'max(rustymem_knob_value{{{FLEET}, knob="pressure.warning_threshold"}})', "warning threshold"),
            t(f'max(rustymem_knob_value{{{FLEET}, knob="pressure.critical_threshold"}})', "critical threshold"),
        ], {"min": 0}),
    ]),
    ("Node memory", [
        ("timeseries", "Memory by component", "Bytes each memcore component holds on $node (nested "
         "components, which draw from another one, left out so the stack adds up).", "bytes", 16, 8, [
            t(f"rustymem_memory_component_held_bytes{{{NODE}}} unless on (instance, component) "
              f"(rustymem_memory_component_nested{{{NODE}}} == 1)", "{{node}} {{component}}"),
        ], {"custom": {"stacking": {"mode": "normal"}, "fillOpacity": 30}}),
        ("timeseries", "Used, budget and RSS", "The usage measure against its budget, and the agent "
         "process's resident memory.", "bytes", 8, 8, [
            t(f"rustymem_memory_used_bytes{{{NODE}}}", "{{node}} used"),
            t(f"rustymem_memory_budget_bytes{{{NODE}}}", "{{node}} budget"),
            t(f"rustymem_agent_process_resident_memory_bytes{{{NODE}}}", "{{node}} rss"),
        ], {}),
    ]),
    ("Buffer pool", [
        ("timeseries", "Hit ratio", "Page requests served from memory / all, as the agent reports it and "
         "over the rate window.", "percentunit", 8, 7, [
            t(f"rustymem_buffer_pool_hit_ratio{{{NODE}}}", "{{node}} since start"),
            t(f"rate(rustymem_buffer_pool_hits_total{{{NODE}}}[{RATE}]) / (rate(rustymem_buffer_pool_hits_total"
              f"{{{NODE}}}[{RATE}]) + rate(rustymem_buffer_pool_misses_total{{{NODE}}}[{RATE}]))",
              "{{node}} recent"),
        ], {"min": 0, "max": 1}),
        ("timeseries", "Evictions and I/O", "Pages evicted, read and written per second.", "ops", 8, 7, [
            t(f"rate(rustymem_buffer_pool_evictions_total{{{NODE}}}[{RATE}])", "{{node}} evictions"),
            t(f"rate(rustymem_buffer_pool_reads_total{{{NODE}}}[{RATE}])", "{{node}} reads"),
            t(f"rate(rustymem_buffer_pool_writes_total{{{NODE}}}[{RATE}])", "{{node}} writes"),
        ], {}),
        ("timeseries", "Frames and ARC lists", "Used, dirty and pinned frames of all frames; pages in ARC's "
         "T1 and T2.", "short", 8, 7, [
            t(f"rustymem_buffer_pool_total_frames{{{NODE}}}", "{{node}} total"),
            t(f"rustymem_buffer_pool_used_frames{{{NODE}}}", "{{node}} used"),
            t(f"rustymem_buffer_pool_dirty_frames{{{NODE}}}", "{{node}} dirty"),
            t(f"rustymem_buffer_pool_arc_t1_pages{{{NODE}}}", "{{node}} T1"),
            t(f"rustymem_buffer_pool_arc_t2_pages{{{NODE}}}", "{{node}} T2"),
        ], {}),
    ]),
    ("Forecast", [
        ("timeseries", "Forecast vs actual", "Usage now and the usage predicted at each horizon: a "
         "prediction for h seconds ahead should meet the actual line h seconds later.", "percentunit", 16, 8, [
            t(f"rustymem_forecast_usage_ratio{{{NODE}}}", "{{node}} actual"),
            t(f"rustymem_forecast_horizon_predicted_usage_ratio{{{NODE}}}", "{{node}} predicted +{{horizon_seconds}}s"),
            t(f'max(rustymem_knob_value{{{FLEET}, knob="pressure.critical_threshold"}})', "critical threshold"),
        ], {"min": 0}),
        ("timeseries", "Forecast confidence", "Confidence of the prediction at each horizon (0-1).",
         "percentunit", 8, 8, [
            t(f"rustymem_forecast_horizon_confidence{{{NODE}}}", "{{node}} +{{horizon_seconds}}s"),
        ], {"min": 0, "max": 1}),
    ]),
    ("Pressure events and actions", [
        ("timeseries", "Pressure level", "The level usage is at, the level the forecaster recommends and "
         "the level the responder acts at.", "short", 8, 7, [
            t(f"rustymem_forecast_current_level{{{NODE}}}", "{{node}} current"),
            t(f"rustymem_forecast_recommended_level{{{NODE}}}", "{{node}} recommended"),
            t(f"rustymem_forecast_responder_level{{{NODE}}}", "{{node}} responder"),
        ], {"mappings": level_mappings(), "min": 0, "max": 5}),
        ("timeseries", "Pressure events", "Level changes and escalations (upward changes) per hour.",
         "short", 8, 7, [
            t(f"increase(rustymem_forecast_level_changes_total{{{NODE}}}[1h])", "{{node}} level changes / h"),
            t(f"increase(rustymem_forecast_escalations_total{{{NODE}}}[1h])", "{{node}} escalations / h"),
            t(f"sum by (node, severity) (rustymem_alerts_active{{{NODE}}})", "{{node}} {{severity}} alerts"),
        ], {}),
        ("timeseries", "Responder actions", "Reclaim actions per second and the bytes they freed per "
         "second; allocation failures.", "short", 8, 7, [
            t(f"rate(rustymem_forecast_reclaim_calls_total{{{NODE}}}[{RATE}])", "{{node}} reclaims/s"),
            t(f"rate(rustymem_forecast_reclaimed_bytes_total{{{NODE}}}[{RATE}])", "{{node}} bytes freed/s"),
            t(f"increase(rustymem_forecast_alloc_failures_total{{{NODE}}}[{RATE}])", "{{node}} alloc failures"),
        ], {}),
    ]),
    ("Slab and fragmentation", [
        ("timeseries", "Slab classes", "Bytes each slab size class holds and uses.", "bytes", 8, 7, [
            t(f"rustymem_slab_class_held_bytes{{{NODE}}}", "{{node}} {{name}} held"),
            t(f"rustymem_slab_class_used_bytes{{{NODE}}}", "{{node}} {{name}} used"),
        ], {}),
        ("timeseries", "Slab magazine hit ratio", "Allocations served from a per-thread magazine / all, "
         "per size class.", "percentunit", 8, 7, [
            t(f"rustymem_slab_class_magazine_hit_ratio{{{NODE}}}", "{{node}} {{name}}"),
        ], {"min": 0, "max": 1}),
        ("timeseries", "Fragmentation", "Share of held bytes not in use: overall, per component holding "
         "at least 1 MiB, and in the large-object allocator.", "percentunit", 8, 7, [
            t(f"rustymem_fragmentation_overall_ratio{{{NODE}}}", "{{node}} overall"),
            t(f"rustymem_fragmentation_component_fragmentation_ratio{{{NODE}}} and on (instance, component) "
              f"(rustymem_memory_component_held_bytes{{{NODE}}} >= 1048576)", "{{node}} {{component}}"),
            t(f"rustymem_large_object_fragmentation_ratio{{{NODE}}}", "{{node}} large objects"),
        ], {"min": 0, "max": 1}),
    ]),
]


def templating():
    return {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []},
        {"name": "job", "label": "Job", "type": "query", "datasource": DS,
         "query": {"query": "label_values(rustymem_up, job)", "refId": "job"},
         "definition": "label_values(rustymem_up, job)", "refresh": 2, "includeAll": True, "multi": True,
         "allValue": ".*", "current": {}, "options": [], "sort": 1, "hide": 0},
        {"name": "node", "label": "Node", "type": "query", "datasource": DS,
         "query": {"query": 'label_values(rustymem_up{job=~"$job"}, node)', "refId": "node"},
         "definition": 'label_values(rustymem_up{job=~"$job"}, node)', "refresh": 2, "includeAll": True,
         "multi": True, "allValue": ".*", "current": {}, "options": [], "sort": 1, "hide": 0},
    ]}


def dashboard():
    panels, y, pid = [], 0, 1
    for row, items in PANELS:
        panels.append({"type": "row", "title": row, "id": pid, "collapsed": False, "panels": [],
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
        pid += 1
        y += 1
        x, row_h = 0, 0
        for ptype, title, desc, unit, w, h, targets, defaults in items:
            if x + w > 24:
                x, y = 0, y + row_h
                row_h = 0
            fd = {"unit": unit}
            fd.update(defaults)
            p = {"type": ptype, "title": title, "description": desc, "id": pid, "datasource": DS,
                 "gridPos": {"h": h, "w": w, "x": x, "y": y},
                 "fieldConfig": {"defaults": fd, "overrides": []},
                 "targets": [dict(tg, refId=chr(ord("A") + i), datasource=DS) for i, tg in enumerate(targets)]}
            if ptype == "timeseries":
                p["options"] = {"legend": {"displayMode": "list", "placement": "bottom"},
                                "tooltip": {"mode": "multi", "sort": "desc"}}
            elif ptype == "bargauge":
                p["options"] = {"orientation": "horizontal", "displayMode": "gradient",
                                "reduceOptions": {"calcs": ["lastNotNull"], "values": False}}
            elif ptype == "stat":
                p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "values": False},
                                "colorMode": "value", "graphMode": "none"}
            elif ptype == "table":
                p["transformations"] = [{"id": "merge", "options": {}}]
            panels.append(p)
            pid += 1
            x += w
            row_h = max(row_h, h)
        y += row_h
    return {
        "title": "rustymem",
        "uid": "rustymem-overview",
        "description": "rustymem agents: fleet pressure, memory by component, buffer pool, forecast, "
                       "pressure events, slab and fragmentation. Generated by scripts/gen-dashboard.py.",
        "tags": ["rustymem"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": templating(),
        "panels": panels,
    }


CONFIGMAP_HEAD = """\
# The Grafana dashboard deploy/grafana/rustymem.json as a ConfigMap, written by
# scripts/gen-dashboard.py (edit the script, not this file). The label
# grafana_dashboard: "1" makes the Grafana sidecar of kube-prometheus-stack or
# of the grafana Helm chart load it; let the sidecar search this namespace
# (sidecar.dashboards.searchNamespace: ALL, or rustymem).
# yamllint disable rule:line-length
# (the dashboard's JSON strings are long queries and cannot be wrapped)
apiVersion: v1
kind: ConfigMap
metadata:
  name: rustymem-grafana-dashboard
  labels:
    app.kubernetes.io/name: rustymem
    app.kubernetes.io/part-of: rustymem
    grafana_dashboard: "1"
data:
  rustymem.json: |
"""


def render():
    text = json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"
    cm = CONFIGMAP_HEAD + "".join("    " + line if line.strip() else line for line in text.splitlines(True))
    return {DASHBOARD: text, CONFIGMAP: cm}


def main():
    ap = argparse.ArgumentParser(description="Write the Grafana dashboard and its ConfigMap; --check compares.")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 on any difference")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    a = ap.parse_args()
    stale = genfiles.sync(a.root, render(), a.check)
    for rel in stale:
        sys.stderr.write(f"gen-dashboard.py: {rel} differs from what scripts/gen-dashboard.py generates: "
                         "run it\n")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
