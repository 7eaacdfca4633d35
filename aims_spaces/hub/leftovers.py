"""Objects in the stores that a crash could leave with no row naming them, and their removal.

A store write and a registry commit cannot be one transaction, so each flow that pairs them
notes the object in the registry (``pending_removals``) on the side that would leave it
unnamed:

- a playground's new eval data (created, or replacing the old): noted in a commit of its own
  before it is written, un-noted in the commit whose row names it;
- eval data and artifacts a commit leaves unnamed (the old eval data of a replacement, a deleted
  playground's eval data and files): noted in that same commit.

After the flow removes them (or they turn out to be named after all) the notes go. What a crash
left noted is settled at the next start (:meth:`Leftovers.settle_all`, run by the process that
holds the home) once it is older than any flow takes (:data:`SETTLE_AFTER`): an object no row
names is removed, then its note. Nothing is removed that was never noted, so a store the
registry does not know (another database pointed at it by mistake) loses nothing.

Not noted: a submission's files, written before its row (a crash there leaves the submitter's
own blob; a note would add a commit to every submission).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .evaldata import EvalDataRepo
from .registry import PendingRemovalRow, PlaygroundRow, Registry, artifact_in_use, utcnow
from .storage import ArtifactStore

log = logging.getLogger(__name__)

EVAL_DATA = "eval_data"
ARTIFACT = "artifact"
# A start settles the notes at least this old: no flow takes that long between its note and its
# commit, and a crash's leftovers wait at most until the first start after it.
SETTLE_AFTER = timedelta(minutes=30)


class Leftovers:
    def __init__(self, registry: Registry, evaldata: EvalDataRepo, store: ArtifactStore | None) -> None:
        self.registry, self.evaldata, self.store = registry, evaldata, store

    @staticmethod
    def note(s: Session, kind: str, keys: Iterable[str]) -> None:
        """Note ``keys`` in the transaction ``s`` (whose commit may leave them unnamed)."""
        s.add_all(PendingRemovalRow(kind=kind, key=key) for key in dict.fromkeys(keys))

    @contextmanager
    def new_eval_data(self) -> Iterator[str]:
        """A new eval-data id, noted in a commit of its own before the block writes it; the
        block's commit that names it must call :meth:`named`. If the block fails, the id is
        removed at once; if the process dies, at a later start."""
        eval_data_id = self.evaldata.new_id()
        with self.registry.session() as s:
            self.note(s, EVAL_DATA, [eval_data_id])
        try:
            yield eval_data_id
        except BaseException:
            self.settle(EVAL_DATA, [eval_data_id])
            raise

    @staticmethod
    def named(s: Session, kind: str, keys: Iterable[str]) -> None:
        """Drop the notes of ``keys`` in the transaction ``s``, whose rows now name them."""
        s.execute(
            delete(PendingRemovalRow).where(
                PendingRemovalRow.kind == kind, PendingRemovalRow.key.in_(list(keys))
            )
        )

    def settle(self, kind: str, keys: Iterable[str]) -> None:
        """Remove each of ``keys`` that no row names, then its note. A removal the store refuses
        keeps its note (the next start tries again) and is logged, not raised: the commit that
        made the object unnamed has happened, and the caller's change with it."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return
        failed = set()
        for key in keys:
            try:
                if kind == EVAL_DATA:  # a fresh random id: no one else writes it
                    if not self._in_use(kind, key):
                        self.evaldata.delete(key)
                elif self.store is not None:
                    # Checked and removed under the store's pins: a submit of the same bytes in
                    # flight keeps the blob (and the note, until a later start).
                    in_use = lambda key=key: self._in_use(kind, key)  # noqa: E731
                    if self.store.delete_unused(key, in_use) == "busy":
                        failed.add(key)
            except Exception as e:  # noqa: BLE001 (any store's error: kept for the next start)
                log.warning("could not remove %s %s (%s); the next start tries again", kind, key, e)
                failed.add(key)
        with self.registry.session() as s:
            self.named(s, kind, [key for key in keys if key not in failed])

    def settle_all(self, older_than: timedelta = SETTLE_AFTER) -> int:
        """Settle the notes a crash left (at the start, before any request). Only notes older
        than ``older_than``: a tool or single-playground app working on this home beside the
        hub may be between its note and its commit. Returns how many were settled."""
        cutoff = utcnow() - older_than
        with self.registry.session() as s:
            notes = [
                (row.kind, row.key)
                for row in s.scalars(select(PendingRemovalRow).where(PendingRemovalRow.noted_at <= cutoff))
            ]
        for kind in (EVAL_DATA, ARTIFACT):
            self.settle(kind, [key for k, key in notes if k == kind])
        if notes:
            log.info("settled %d object(s) an earlier run left unnamed in the stores", len(notes))
        return len(notes)

    def _in_use(self, kind: str, key: str) -> bool:
        """Whether a row names ``key``, in a short session of its own (no write lock is held while
        a store removes anything)."""
        with self.registry.session() as s:
            if kind == EVAL_DATA:
                return s.scalar(select(PlaygroundRow.id).where(PlaygroundRow.eval_data_id == key)) is not None
            return artifact_in_use(s, key)
