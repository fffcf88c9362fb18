#!/usr/bin/env python3
"""Check a ledgerflow evidence pack without ledgerflow: the Python standard library and `cryptography`.

    python3 verify_pack.py PACK.json --trust KEY_OR_FILE [--trust ...]

What it checks, in order (exit 0 only if all hold; 1 with the reason otherwise; 2 for bad usage):
1. every event's hash: SHA-256 over the RFC 8785 canonical JSON of the event without `hash`;
2. the chain: each event names its predecessor's hash (the first names 64 zeros), positions count 1, 2, 3...,
   and the last event is the pack's head;
3. the checkpoint: a C2SP signed note whose first signature under the note's origin is by a key YOU name
   (`--trust`), never by a key the pack carries;
4. inclusion: the head, as the leaf {"chain","hash","length"}, leads through the RFC 9162 audit path to the
   root the checkpoint signed;
5. documents: the pack's list of attached documents is the one its events name, every file it carries hashes
   to a listed document, and a pack made `--with-attachments` carries every document not removed by retention.
ledgerflow's own `audit check-pack` also replays the events into the run's state; this file does not.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ZERO_HASH = "0" * 64


# --- RFC 8785 canonical JSON ------------------------------------------------------------------------------


def _number(value: float | int) -> str:
    """A number as ECMAScript's Number.prototype.toString writes it (RFC 8785 §3.2.2.3)."""
    if isinstance(value, int):
        if abs(value) >= 2**53:
            raise ValueError(f"integer {value} is outside the range JSON numbers keep exactly")
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("NaN and infinities are not JSON")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    digits_tuple = decimal.Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digits_tuple.digits)).rstrip("0") or "0"
    exponent = int(digits_tuple.exponent) + len(digits_tuple.digits)  # value = 0.digits × 10^exponent
    k, n = len(digits), exponent
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + text


def canonical(value: Any) -> str:
    """RFC 8785: sorted keys (by UTF-16 code units), no whitespace, ECMAScript numbers and string escapes."""
    if value is None or value is True or value is False:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: key.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical(value[k]) for k in keys) + "}"
    raise ValueError(f"not JSON: {type(value).__name__}")


def event_hash(event: dict[str, Any]) -> str:
    body = {k: v for k, v in event.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()  # a lone surrogate fails here


# --- C2SP signed notes and RFC 9162 inclusion proofs ------------------------------------------------------


def key_hash(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_proof(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


class Refused(Exception):
    """The pack is not evidence; `args[0]` is the reason."""


def check(pack: dict[str, Any], trusted: list[bytes]) -> dict[str, Any]:
    run = pack["run"]["run"]
    events, head = pack["events"], pack["head"]
    prev = ZERO_HASH
    for position, event in enumerate(events, start=1):
        if event_hash(event) != event["hash"]:
            raise Refused("altered", event["seq"])
        if event["prev_hash"] != prev or event["chain_seq"] != position or event["chain"] != run:
            raise Refused("broken-chain", event["seq"])
        prev = event["hash"]
    if head["chain"] != run or head["length"] != len(events) or head["hash"] != prev:
        raise Refused("not-the-head", None)
    text = pack["checkpoint"]
    cut = text.rindex("\n\n")
    body, lines = text[:cut + 1], text[cut + 2:].splitlines()
    origin, size, root = body.splitlines()[:3]
    signer = None
    for line in lines:
        name, _, encoded = line.removeprefix("\u2014 ").rpartition(" ")
        raw = base64.b64decode(encoded)
        if name != origin:
            continue
        for public in trusted:
            if key_hash(name, public) == raw[:4]:
                try:
                    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], body.encode())
                except InvalidSignature:
                    raise Refused("bad-signature", None) from None
                signer = f"{name}+{raw[:4].hex()}"
    if signer is None:
        raise Refused("untrusted-key" if lines else "unsigned", None)
    leaf_data = json.dumps({"chain": run, "hash": head["hash"], "length": head["length"]}, sort_keys=True,
                           separators=(",", ":")).encode()
    leaf = hashlib.sha256(b"\x00" + leaf_data).digest()
    proof = pack["proof"]
    path = [base64.b64decode(p) for p in proof["path"]]
    if int(size) != proof["size"] or root_from_proof(proof["index"], proof["size"], leaf, path) != base64.b64decode(
            root):
        raise Refused("not-included", None)
    carried = check_documents(pack, events)
    return {"ok": True, "run": run, "events": len(events), "signed_by": signer, "checkpoint": body.splitlines()[-1],
            "attachments": carried}


def listing(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents the events attach (run.started, task.completed), once each, and whether removed since."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.get("data") or {}
        if event["type"] == "attachment.removed" and data.get("sha256") in found:
            found[data["sha256"]]["removed"] = True
        elif event["type"] in ("run.started", "task.completed"):
            for d in data.get("attachments") or ():
                found.setdefault(d["sha256"], {"sha256": d["sha256"], "name": d["name"], "size": d["size"],
                                               "media_type": d["media_type"], "removed": False})
    return list(found.values())


def check_documents(pack: dict[str, Any], events: list[dict[str, Any]]) -> int:
    """The documents part of the pack; returns how many files it carries, each checked against its hash."""
    listed = listing(events)
    if (pack.get("attachments") or []) != listed:
        raise Refused("attachment-mismatch", None)
    files = pack.get("files") or {}
    names = {d["sha256"] for d in listed}
    for sha256, encoded in files.items():
        if sha256 not in names:
            raise Refused("attachment-mismatch", None)
        if hashlib.sha256(base64.b64decode(encoded, validate=True)).hexdigest() != sha256:
            raise Refused("attachment-altered", None)
    if pack.get("with_attachments") and any(not d["removed"] and d["sha256"] not in files for d in listed):
        raise Refused("attachment-missing", None)
    return len(files)


def _keys(values: list[str]) -> list[bytes]:
    keys = []
    for value in values:
        lines = Path(value).read_text().splitlines() if Path(value).is_file() else [value]
        for line in lines:
            word = line.split("#", 1)[0].strip()
            if word and not word.startswith("revoked"):
                raw = base64.b64decode(word, validate=True)
                Ed25519PublicKey.from_public_bytes(raw)
                keys.append(raw)
    return keys


def main(argv: list[str]) -> int:
    args, trust = [], []
    items = iter(argv)
    for arg in items:
        if arg == "--trust":
            trust.append(next(items, ""))
        else:
            args.append(arg)
    if len(args) != 1 or not trust:
        print("usage: verify_pack.py PACK.json --trust KEY_OR_FILE [--trust ...]", file=sys.stderr)
        return 2
    try:
        keys = _keys(trust)
        pack = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError, binascii.Error) as exc:
        print(f"cannot read: {exc}", file=sys.stderr)
        return 2
    try:
        result = check(pack, keys)
    except Refused as refusal:
        result = {"ok": False, "reason": refusal.args[0], "seq": refusal.args[1]}
    except (KeyError, TypeError, ValueError, IndexError, binascii.Error, UnicodeError) as exc:
        result = {"ok": False, "reason": "not-an-evidence-pack", "seq": None, "detail": repr(exc)}
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
