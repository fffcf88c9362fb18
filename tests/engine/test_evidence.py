"""Evidence outside the database: signed checkpoints, offline evidence packs, OCEL and XES exports."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from ledgerflow import evidence, exports
from ledgerflow.cli.main import main
from ledgerflow.storage import schema
from ledgerflow.storage.store import Store, event_hash
from tests.engine.helpers import GOOD_OUTPUT, act, decide, only_open, start


def _finished_run(store: Store) -> str:
    run = start(store)
    decision = act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)["opened"][0]
    apply = decide(store, decision, "approve")["opened"][0]
    act(store, "complete", apply, output={"quote_id": "Q"})
    return run.id


def _rewrite_history(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The attacker rewrites the run's third event, re-hashes the rest of its chain and moves its head.

    Returns the run's events as they were."""
    with store.read() as tx:
        rows = tx.events(run=run_id)
    with store.engine.begin() as conn:
        prev = rows[1]["hash"]
        for row in rows[2:]:
            row = dict(row, prev_hash=prev, actor="mallory" if row["chain_seq"] == 3 else row["actor"])
            row["hash"] = prev = event_hash({k: v for k, v in row.items() if k != "hash"})
            conn.execute(update(schema.events).where(schema.events.c.seq == row["seq"])
                         .values(actor=row["actor"], prev_hash=row["prev_hash"], hash=row["hash"]))
        conn.execute(update(schema.chains).where(schema.chains.c.id == run_id).values(hash=prev))
    return rows


def test_an_evidence_pack_verifies_offline_and_catches_any_edit(store: Store) -> None:
    run_id = _finished_run(store)
    start(store)  # another run's events sit in the chain after it
    key, _ = evidence.new_key()
    pack = json.loads(json.dumps(evidence.export_run(store, run_id, key), default=str))
    assert pack["simulated_clock"] is True and pack["checkpoint"] is not None
    assert evidence.verify_pack(pack) == {"ok": True, "events": len(pack["events"]), "first_bad": None}
    altered = copy.deepcopy(pack)
    altered["events"][3]["data"]["outcome"] = "reject"
    assert evidence.verify_pack(altered)["first_bad"]["reason"] == "altered"
    rehashed = copy.deepcopy(pack)
    event = rehashed["events"][3]
    event["actor"] = "mallory"
    event["hash"] = event_hash({k: v for k, v in event.items() if k != "hash"})
    assert evidence.verify_pack(rehashed)["ok"] is False
    cut = copy.deepcopy(pack)
    cut["events"] = cut["events"][:-1]
    assert evidence.verify_pack(cut)["first_bad"]["reason"] == "truncated"
    recut = copy.deepcopy(cut)
    recut["head"] = {**recut["head"], "length": len(recut["events"]), "hash": recut["events"][-1]["hash"]}
    assert evidence.verify_pack(recut)["first_bad"]["reason"] == "checkpoint-signature"
    forged = copy.deepcopy(pack)
    forged["checkpoint"]["hash"] = "0" * 64
    assert evidence.verify_pack(forged)["first_bad"]["reason"] == "checkpoint-signature"


def test_a_signed_checkpoint_catches_history_rewritten_with_its_head(store: Store, tmp_path: Path) -> None:
    from ledgerflow import audit

    run_id = _finished_run(store)
    key, _ = evidence.new_key()
    saved = evidence.checkpoint(store, key)
    assert evidence.check_against(store, saved) is None
    rows = _rewrite_history(store, run_id)
    assert audit.verify(store)["ok"]  # the database alone verifies
    assert evidence.check_against(store, saved) == {"seq": rows[-1]["seq"], "run": run_id, "reason": "altered"}
    with store.engine.begin() as conn:
        conn.execute(delete(schema.events).where(schema.events.c.chain == run_id, schema.events.c.chain_seq >= 3))
        conn.execute(update(schema.chains).where(schema.chains.c.id == run_id).values(length=2, hash=rows[1]["hash"]))
    assert evidence.check_against(store, saved) == {"seq": None, "run": run_id, "reason": "truncated"}
    forged = {**saved, "events": saved["events"] + 1}
    assert evidence.check_against(store, forged)["reason"] == "checkpoint-signature"  # type: ignore[index]


def test_exports_say_the_clock_is_simulated(store: Store) -> None:
    run_id = _finished_run(store)
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


def test_the_cli_exports_and_checks_a_pack(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _finished_run(store)
    out = tmp_path / "pack.json"
    assert main(["audit", "export", run_id, "--out", str(out), "--db", store.url, "--json"]) == 0
    capsys.readouterr()
    assert main(["audit", "check-pack", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    pack = json.loads(out.read_text())
    pack["events"][0]["actor"] = "mallory"
    out.write_text(json.dumps(pack))
    assert main(["audit", "check-pack", str(out), "--json"]) == 1


def test_the_cli_signs_every_chain_head_and_verifies_against_it(store: Store, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _finished_run(store)
    key, _ = evidence.new_key()
    monkeypatch.setenv("LEDGERFLOW_SIGNING_KEY", key)
    saved = tmp_path / "checkpoint.json"
    assert main(["audit", "checkpoint", "--out", str(saved), "--db", store.url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    with store.read() as tx:
        heads = tx.chain_heads()
    assert summary["chains"] == len(heads) and summary["events"] == sum(n for n, _ in heads.values())
    assert json.loads(saved.read_text())["heads"][run_id] == list(heads[run_id])
    assert main(["audit", "verify", "--checkpoint", str(saved), "--db", store.url, "--json"]) == 0
    capsys.readouterr()
    rows = _rewrite_history(store, run_id)
    assert main(["audit", "verify", "--db", store.url, "--json"]) == 0  # the database alone verifies
    capsys.readouterr()
    assert main(["audit", "verify", "--checkpoint", str(saved), "--db", store.url, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["first_bad"] == {"seq": rows[-1]["seq"], "run": run_id,
                                                               "reason": "altered"}
