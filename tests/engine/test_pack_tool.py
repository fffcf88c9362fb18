"""The standalone pack verifier under tools/: an auditor's own check, with no ledgerflow installed."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import rfc8785
from hypothesis import given, settings

from ledgerflow.storage.store import Store
from ledgerflow.trust import evidence
from tests.engine.helpers import GOOD_OUTPUT, act, only_open, start
from tests.strategies import json_documents

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_pack.py"
KEY, PUBLIC = evidence.new_key()


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_pack", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tool_needs_only_the_standard_library_and_cryptography() -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(TOOL.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


documents = json_documents(max_int=2**53 - 1)


@given(documents)
@settings(max_examples=600)
def test_the_tools_canonical_json_is_rfc8785(value: Any) -> None:
    try:
        expected = bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, ValueError):
        return
    assert _tool().canonical(value).encode("utf-8") == expected


def _run(*args: str) -> tuple[int, dict[str, Any] | None]:
    done = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=60)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None


def test_the_tool_accepts_a_good_pack_and_refuses_tampering(store: Store, tmp_path: Path) -> None:
    run = start(store)
    act(store, "complete", only_open(store, run.id), output=GOOD_OUTPUT)
    start(store, customer="Globex")
    signing = Store(store.url, settings=replace(store.settings, signing_key=KEY))
    try:
        pack = json.loads(json.dumps(evidence.export_run(signing, run.id), default=str))
    finally:
        signing.close()
    good = tmp_path / "pack.json"
    good.write_text(json.dumps(pack))
    code, result = _run(str(good), "--trust", PUBLIC)
    assert code == 0 and result is not None and result["ok"] is True and result["events"] == len(pack["events"])
    _, stranger = evidence.new_key()
    assert _run(str(good), "--trust", stranger)[1] == {"ok": False, "reason": "untrusted-key", "seq": None}
    edited = json.loads(json.dumps(pack))
    edited["events"][1]["actor"] = "mallory"
    bad = tmp_path / "edited.json"
    bad.write_text(json.dumps(edited))
    expected = {"ok": False, "reason": "altered", "seq": edited["events"][1]["seq"]}
    assert _run(str(bad), "--trust", PUBLIC) == (1, expected)
    assert _run(str(good))[0] == 2
