"""Merkle trees as RFC 9162 (Certificate Transparency v2) defines them, over a checkpoint's chain heads.

Leaves and interior nodes are hashed with different one-byte prefixes (0x00, 0x01), so no interior node can
pass for a leaf. An inclusion proof (the audit path) lets a pack show that one run's head is in a signed
root without revealing any other run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence


def leaf_bytes(chain: str, length: int, head: str) -> bytes:
    """What a checkpoint commits to for one chain: its id, its length and its head hash."""
    return json.dumps({"chain": chain, "hash": head, "length": length}, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (already hashed with `leaf_hash`); the hash of nothing for no leaves.

    Built bottom-up, level by level: pairing left to right and carrying an odd last node up unchanged gives
    exactly the RFC's recursive split at the largest power of two, without recursion.
    """
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf `index` (RFC 9162 §2.1.3.1), leaf-side first."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    path: list[bytes] = []
    level, at = list(leaves), index
    while len(level) > 1:
        sibling = at ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level, at = paired, at // 2
    return path


def root_from_proof(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or None when the proof has the wrong shape."""
    if not 0 <= index < size:
        return None
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            node = node_hash(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return node if sn == 0 else None
