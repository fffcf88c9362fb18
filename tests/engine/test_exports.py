"""Process-mining exports: OCEL 2.0 and XES."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ledgerflow.storage.store import Store
from ledgerflow.trust import exports
from tests.engine.helpers import finished_run


def test_exports_say_the_clock_is_simulated(store: Store) -> None:
    run_id = finished_run(store)
    document = exports.ocel(store)
    assert document["ledgerflow"]["simulated_clock"] is True
    assert {o["type"] for o in document["objects"]} == {"run", "task", "actor"}
    decided = next(e for e in document["events"] if e["type"] == "task.decided")
    assert {r["qualifier"] for r in decided["relationships"]} == {"run", "task", "actor"}
    log = ET.fromstring(exports.xes(store))
    ns = {"x": "http://www.xes-standard.org/"}
    assert log.find("x:boolean[@key='ledgerflow:simulated_clock']", ns).get("value") == "true"  # type: ignore[union-attr]
    trace = log.find("x:trace", ns)
    assert trace.find("x:string[@key='concept:name']", ns).get("value") == run_id  # type: ignore[union-attr]
    steps = [e.find("x:string[@key='concept:name']", ns).get("value")  # type: ignore[union-attr]
             for e in trace.findall("x:event", ns)]  # type: ignore[union-attr]
    assert steps[:2] == ["prepare", "prepare"] and "apply" in steps
