"""Process-mining exports of the history: OCEL 2.0 (JSON) and XES (IEEE 1849).

Both say when the database runs on a simulated clock, so nobody mistakes a simulation for real work. Without
a filter they hold everything; with `playbook` or `period` they hold the chosen runs, each with its whole
history (a case cut at a period's edge would mislead a process-mining tool), and no system events.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ledgerflow.domain.figures import Period
from ledgerflow.domain.times import display_time
from ledgerflow.storage.store import Store

XES_NS = "http://www.xes-standard.org/"
_LIFECYCLE = {"task.ready": "schedule", "task.started": "start", "task.completed": "complete",
              "task.decided": "complete", "task.cancelled": "ate_abort", "task.sent_back": "ate_abort",
              "step.skipped": "ate_abort", "check.passed": "complete", "check.failed": "complete"}


def _rows(store: Store, playbook: str | None, period: Period | None) -> tuple[list[dict[str, Any]], list[Any], bool]:
    """The events and runs to export: all of them, or the runs of `playbook` started in `period`."""
    with store.read() as tx:
        if playbook is None and period is None:
            return tx.events(), tx.runs(), tx.simulated
        if playbook is not None:
            tx.playbook(playbook)  # an unknown id is refused, not exported as nothing
        runs = tx.runs(playbook=playbook, started=period.bounds if period is not None else None)
        return tx.events_of_runs([run.id for run in runs]), runs, tx.simulated


def ocel(store: Store, *, playbook: str | None = None, period: Period | None = None) -> dict[str, Any]:
    """OCEL 2.0 JSON: events related to their run, task and actor objects."""
    events, runs, simulated = _rows(store, playbook, period)
    objects: dict[str, dict[str, Any]] = {}

    def obj(object_id: str, kind: str, attributes: dict[str, Any] | None = None) -> None:
        if object_id not in objects:
            objects[object_id] = {"id": object_id, "type": kind, "relationships": [],
                                  "attributes": [{"name": k, "time": "1970-01-01T00:00:00Z", "value": v}
                                                 for k, v in (attributes or {}).items()]}

    for run in runs:
        obj(run.id, "run", {"playbook": run.playbook, "version": run.version, "status": run.status})
    out_events = []
    event_types: dict[str, set[str]] = {}
    for row in events:
        relationships = []
        if row["run"]:
            obj(row["run"], "run")
            relationships.append({"objectId": row["run"], "qualifier": "run"})
        if row["task"]:
            obj(row["task"], "task", {"step": row["step"]})
            relationships.append({"objectId": row["task"], "qualifier": "task"})
            if row["run"] and not any(r["objectId"] == row["run"] for r in objects[row["task"]]["relationships"]):
                objects[row["task"]]["relationships"].append({"objectId": row["run"], "qualifier": "part of"})
        obj(f"actor:{row['actor']}", "actor")
        relationships.append({"objectId": f"actor:{row['actor']}", "qualifier": "actor"})
        attributes = {"channel": row["channel"], "authority": (row["authority"] or {}).get("kind"),
                      "step": row["step"], "seq": row["seq"], "hash": row["hash"]}
        for key in ("outcome", "rationale", "to", "kind", "reason"):
            if isinstance(row["data"].get(key), str):
                attributes[key] = row["data"][key]
        event_types.setdefault(row["type"], set()).update(k for k, v in attributes.items() if v is not None)
        out_events.append({"id": f"e{row['seq']}", "type": row["type"], "time": display_time(row["at"]),
                           "attributes": [{"name": k, "value": v} for k, v in attributes.items() if v is not None],
                           "relationships": relationships})
    kinds = sorted({o["type"] for o in objects.values()})
    return {
        "objectTypes": [{"name": k, "attributes": [{"name": a["name"], "type": "string"} for a in next(
            (o["attributes"] for o in objects.values() if o["type"] == k and o["attributes"]), [])]} for k in kinds],
        "eventTypes": [{"name": name, "attributes": [{"name": a, "type": "integer" if a == "seq" else "string"}
                                                     for a in sorted(attrs)]}
                       for name, attrs in sorted(event_types.items())],
        "objects": list(objects.values()),
        "events": out_events,
        "ledgerflow": {"simulated_clock": simulated, "events": len(events)},
    }


def xes(store: Store, *, playbook: str | None = None, period: Period | None = None) -> bytes:
    """XES: one trace per run, one event per step lifecycle change."""
    events, runs, simulated = _rows(store, playbook, period)
    log = ET.Element("log", {"xes.version": "1849-2016", "xes.features": "nested-attributes", "xmlns": XES_NS})
    for name, prefix in (("Concept", "concept"), ("Time", "time"), ("Organizational", "org"),
                         ("Lifecycle", "lifecycle")):
        ET.SubElement(log, "extension", {"name": name, "prefix": prefix,
                                         "uri": f"http://www.xes-standard.org/{prefix}.xesext"})
    ET.SubElement(log, "string", {"key": "concept:name", "value": "ledgerflow"})
    ET.SubElement(log, "boolean", {"key": "ledgerflow:simulated_clock", "value": "true" if simulated else "false"})
    traces: dict[str, ET.Element] = {}
    for run in runs:
        trace = ET.SubElement(log, "trace")
        ET.SubElement(trace, "string", {"key": "concept:name", "value": run.id})
        ET.SubElement(trace, "string", {"key": "ledgerflow:playbook", "value": run.playbook})
        ET.SubElement(trace, "string", {"key": "ledgerflow:status", "value": run.status})
        traces[run.id] = trace
    for row in events:
        if row["run"] not in traces or row["type"] not in _LIFECYCLE:
            continue
        event = ET.SubElement(traces[row["run"]], "event")
        ET.SubElement(event, "string", {"key": "concept:name", "value": str(row["step"])})
        ET.SubElement(event, "string", {"key": "lifecycle:transition", "value": _LIFECYCLE[row["type"]]})
        resource = row["data"].get("assignee") if row["type"] == "task.ready" else row["actor"]
        ET.SubElement(event, "string", {"key": "org:resource", "value": str(resource or "system")})
        ET.SubElement(event, "date", {"key": "time:timestamp", "value": str(display_time(row["at"]))})
        ET.SubElement(event, "string", {"key": "ledgerflow:event", "value": row["type"]})
        if isinstance(row["data"].get("outcome"), str):
            ET.SubElement(event, "string", {"key": "ledgerflow:outcome", "value": row["data"]["outcome"]})
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + bytes(ET.tostring(log, encoding="utf-8"))
