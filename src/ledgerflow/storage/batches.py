"""Statements over a list of ids, bound as a fixed number of parameters so each size compiles once."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

from sqlalchemy import String, bindparam, func, select

from ledgerflow.storage import schema
from ledgerflow.storage.hot import Hot
from ledgerflow.storage.rows import RECOMMENDATION_COMPARED, RUN_COMPARED, TASK_COMPARED

_t, _r, _rec, _h = schema.tasks, schema.runs, schema.recommendations, schema.chains
IDS_PER_QUERY = 512


def id_lists(ids: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Ids as binds i0, i1, ... for `by_ids`: in lists of at most 512, each padded to a power of two by
    repeating its last id, so that a few statement shapes serve every count."""
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = ids[start:start + IDS_PER_QUERY]
        size = 1 << (len(chunk) - 1).bit_length()
        yield size, {f"i{k}": chunk[min(k, len(chunk) - 1)] for k in range(size)}


@functools.cache
def by_ids(what: str, size: int) -> Hot:
    """Chain heads (locked), runs, their tasks, recommendations or row locks by `size` ids bound as i0, i1, ...
    (a fixed list, so the statement is compiled once per size); `compared_*`: the columns `audit verify`
    compares with a replayed run, in the order of `rows.compared`.

    `heads_and_seqs` (PostgreSQL): the heads as three arrays (ids, lengths, hashes; NULL when none is stored
    yet) and `n` fresh seqs, in one round trip. The seqs are an InitPlan of the aggregate over the locked rows,
    evaluated once it has read them all, so they are drawn with every lock held: a chain's seqs rise in the
    order its appends commit, as when a second statement drew them."""
    ids = [bindparam(f"i{k}", type_=String) for k in range(size)]
    # locked in id order: two commands appending to several chains cannot deadlock
    heads = select(_h.c.id, _h.c.length, _h.c.hash).where(_h.c.id.in_(ids)).order_by(_h.c.id).with_for_update()
    if what == "heads":
        return Hot(heads)
    if what == "heads_and_seqs":
        locked = heads.subquery()
        seqs = (select(func.array_agg(schema.event_seq.next_value()))
                .select_from(func.generate_series(1, bindparam("n"))).scalar_subquery())
        return Hot(select(func.array_agg(locked.c.id), func.array_agg(locked.c.length),
                          func.array_agg(locked.c.hash), seqs))
    if what == "lock":
        return Hot(select(_r.c.id).where(_r.c.id.in_(ids)).order_by(_r.c.id).with_for_update())
    if what == "tasks":
        return Hot(select(_t).where(_t.c.run.in_(ids)).order_by(_t.c.run, _t.c.ord))
    if what == "compared_runs":
        return Hot(select(*(_r.c[name] for name in RUN_COMPARED)).where(_r.c.id.in_(ids)))
    if what == "compared_tasks":
        return Hot(select(*(_t.c[name] for name in TASK_COMPARED)).where(_t.c.run.in_(ids))
                   .order_by(_t.c.run, _t.c.ord))
    if what == "compared_recommendations":
        return Hot(select(*(_rec.c[name] for name in RECOMMENDATION_COMPARED)).where(_rec.c.run.in_(ids)))
    if what == "recommendations":
        return Hot(select(_rec).where(_rec.c.run.in_(ids)).order_by(_rec.c.run, _rec.c.at))
    return Hot(select(_r).where(_r.c.id.in_(ids)))
