"""Signed notes (the C2SP signed-note format) and the trust anchors that judge them.

A note is UTF-8 text: a body of lines, a blank line, then one line per signature,
`— <name> <base64(key hash || Ed25519 signature)>`. The key hash is the first 4 bytes of
SHA-256(name || 0x0A || 0x01 || public key), so a verifier finds which of *its own* keys a line claims
without trusting anything the note says about keys. A checkpoint's body follows C2SP tlog-checkpoint:
origin, tree size, base64 root hash, then extension lines. The log signs under its origin as the name;
every other signature on the same body is a witness's cosignature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledgerflow.domain.errors import InvalidInput

DASH = "\u2014 "
ED25519 = b"\x01"


def key_hash(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def key_id(name: str, public: bytes) -> str:
    """How a key is named in messages: `name+hash` as in C2SP verifier keys."""
    return f"{name}+{key_hash(name, public).hex()}"


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise InvalidInput(f"a signer's name has no spaces or '+': {name!r}", rule="bad-key-name")
    return name


def sign_line(key: Ed25519PrivateKey, name: str, body: str) -> str:
    """One signature line over `body` by `key` under `name`."""
    raw = key_hash(check_name(name), public_bytes(key)) + key.sign(body.encode("utf-8"))
    return f"{DASH}{name} {base64.b64encode(raw).decode()}\n"


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    hash: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Note:
    body: str
    signatures: tuple[Signature, ...]

    @property
    def lines(self) -> list[str]:
        return self.body.splitlines()

    def text(self, extra: Iterable[str] = ()) -> str:
        """The note as text, with `extra` signature lines appended."""
        own = [f"{DASH}{s.name} {base64.b64encode(s.hash + s.signature).decode()}\n" for s in self.signatures]
        return self.body + "\n" + "".join(own) + "".join(extra)


def parse(text: str) -> Note:
    """A signed note from its text.

    Raises:
        InvalidInput: not a note (no body, no blank line before the signatures, a malformed signature line).
    """
    if not isinstance(text, str) or not text.endswith("\n") or "\n\n" not in text:
        raise InvalidInput("not a signed note: a body, a blank line, then signature lines", rule="not-a-note")
    cut = text.rindex("\n\n")
    body, tail = text[:cut + 1], text[cut + 2:]
    signatures = []
    for line in tail.splitlines():
        if not line.startswith(DASH):
            raise InvalidInput(f"not a signature line: {line[:80]!r}", rule="not-a-note")
        name, _, encoded = line[len(DASH):].rpartition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise InvalidInput(f"signature of {name!r} is not base64", rule="not-a-note") from None
        if not name or len(raw) < 5:
            raise InvalidInput(f"malformed signature line: {line[:80]!r}", rule="not-a-note")
        signatures.append(Signature(name, raw[:4], raw[4:]))
    return Note(body, tuple(signatures))


@dataclass(frozen=True, slots=True)
class Anchors:
    """The public keys a verifier trusts, and the ones it has revoked (never evidence, named as such)."""

    trusted: tuple[bytes, ...] = ()
    revoked: tuple[bytes, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.trusted)


def _key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{where}: {text.strip()[:60]!r} is not a base64 Ed25519 public key",
                           rule="bad-trust-key") from None
    return raw


def anchors(lines: Iterable[str], where: str) -> Anchors:
    """Keys from lines: one base64 public key a line, `revoked KEY` for a revoked one, `#` comments."""
    trusted: list[bytes] = []
    revoked: list[bytes] = []
    for line in lines:
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "revoked" and len(words) == 2:
            revoked.append(_key(words[1], where))
        elif len(words) == 1:
            trusted.append(_key(words[0], where))
        else:
            raise InvalidInput(f"{where}: expected KEY or `revoked KEY`, got {line.strip()[:60]!r}",
                               rule="bad-trust-key")
    return Anchors(tuple(k for k in trusted if k not in revoked), tuple(revoked))


@dataclass(frozen=True, slots=True)
class Verdict:
    """A note's signatures judged against anchors: `reason` is None when the log's signature holds."""

    reason: str | None
    detail: str
    cosigners: tuple[str, ...] = ()


def judge(note: Note, origin: str, logs: Anchors, witnesses: Anchors = Anchors(), cosignatures: int = 0) -> Verdict:
    """Whether `note` carries a valid signature by a trusted log key under `origin`, and at least
    `cosignatures` valid cosignatures by distinct trusted witness keys (other than the log's)."""
    body = note.body.encode("utf-8")
    if not note.signatures:
        return Verdict("unsigned", "the note carries no signature")
    log_key: bytes | None = None
    seen: list[str] = []
    for sig in note.signatures:
        if sig.name != origin:
            continue
        seen.append(f"{sig.name}+{sig.hash.hex()}")
        for public in logs.revoked:
            if key_hash(sig.name, public) == sig.hash:
                return Verdict("revoked-key", f"signed by the revoked key {key_id(sig.name, public)}")
        for public in logs.trusted:
            if key_hash(sig.name, public) == sig.hash:
                if not _valid(public, sig.signature, body):
                    return Verdict("bad-signature", f"the signature by {key_id(sig.name, public)} does not verify")
                log_key = public
                break
        if log_key is not None:
            break
    if log_key is None:
        if not seen:
            return Verdict("unsigned", f"no signature under the log's name {origin}")
        return Verdict("untrusted-key", f"signed by {', '.join(seen)}, none of them a trusted key")
    cosigners: list[str] = []
    used = {log_key}
    for sig in note.signatures:
        if sig.name == origin:
            continue
        for public in witnesses.revoked:
            if key_hash(sig.name, public) == sig.hash:
                return Verdict("revoked-key", f"cosigned by the revoked key {key_id(sig.name, public)}")
        for public in witnesses.trusted:
            if public not in used and key_hash(sig.name, public) == sig.hash:
                if not _valid(public, sig.signature, body):
                    return Verdict("bad-signature",
                                   f"the cosignature by {key_id(sig.name, public)} does not verify")
                used.add(public)
                cosigners.append(key_id(sig.name, public))
                break
    detail = f"signed by {key_id(origin, log_key)}"
    if len(cosigners) < cosignatures:
        return Verdict("too-few-cosignatures",
                       f"{detail}; {len(cosigners)} trusted cosignature(s), {cosignatures} required", tuple(cosigners))
    return Verdict(None, detail + (f"; cosigned by {', '.join(cosigners)}" if cosigners else ""), tuple(cosigners))


def _valid(public: bytes, signature: bytes, body: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, body)
    except InvalidSignature:
        return False
    return True
