"""Which runs refer to which documents, and who uploaded a document under which name."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select, update

from ledgerflow.storage import schema
from ledgerflow.storage.batches import IDS_PER_QUERY
from ledgerflow.storage.transaction import TxBase

_r = schema.runs


class Attachments(TxBase):
    """A transaction's reads and writes of document references and uploads."""

    def runs_with_documents(self, *, ended: bool) -> list[str]:
        """Runs that refer to documents (only those that ended, with `ended`), by id."""
        query = select(_r.c.id).where(_r.c.id.in_(select(schema.attachments.c.run)))
        if ended:
            query = query.where(_r.c.ended_at.is_not(None))
        return [str(x) for x in self.conn.execute(query.order_by(_r.c.id)).scalars()]

    def runs_referencing(self, sha256: str) -> list[str]:
        """The runs a document is attached to, by id."""
        a = schema.attachments
        return [str(x) for x in self.conn.execute(select(a.c.run).where(a.c.sha256 == sha256).order_by(a.c.run))
                .scalars()]

    def referenced(self, hashes: Sequence[str]) -> set[str]:
        """Which of these documents some run refers to."""
        a = schema.attachments
        found: set[str] = set()
        for start in range(0, len(hashes), IDS_PER_QUERY):
            chunk = list(hashes[start:start + IDS_PER_QUERY])
            found.update(str(x) for x in self.conn.execute(select(a.c.sha256).where(a.c.sha256.in_(chunk))).scalars())
        return found

    def record_upload(self, sha256: str, actor: str, name: str, at: str) -> None:
        """Remember who uploaded a document through the API, under which name (the latest upload's)."""
        u = schema.uploads
        if self.uploaded(sha256, actor) is None:
            self.conn.execute(insert(u).values(sha256=sha256, actor=actor, name=name, at=at))
        else:
            self.conn.execute(update(u).where(u.c.sha256 == sha256, u.c.actor == actor).values(name=name, at=at))

    def uploaded(self, sha256: str, actor: str) -> str | None:
        """The name under which `actor` uploaded the document, or None when it did not."""
        u = schema.uploads
        name = self.conn.execute(select(u.c.name).where(u.c.sha256 == sha256, u.c.actor == actor)).scalar()
        return None if name is None else str(name)

    def forget_uploads(self, sha256: str) -> None:
        """Drop the upload records of a document whose bytes are gone (the orphan sweep)."""
        self.conn.execute(schema.uploads.delete().where(schema.uploads.c.sha256 == sha256))
