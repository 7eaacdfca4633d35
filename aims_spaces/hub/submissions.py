"""Submissions: validate an upload, store it, queue its evaluation, record its result.

A submission is recorded ``queued`` in the same transaction that assigns its version, after its
artifacts are safely in the store; anything that fails before the commit removes the artifacts
it stored that no row names and no other submit holds, so a refused upload leaves nothing
behind. Evaluations run through an :class:`EvaluationQueue` the hub's wiring provides (Ray in
production); their results are written once, whatever retries happened on the way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..core import preprocess
from ..core.onnx_checks import check_model_bytes
from ..core.onnx_model import Deadline, OnnxModel
from ..core.skops_audit import check_skops
from ..core.tabular import ClassIndex, clean_targets, frame_to_parquet
from ..domain import (
    EvaluationJob,
    EvaluationResult,
    InputType,
    Metric,
    Signature,
    SubmissionInfo,
    SubmissionMeta,
    SubmissionStatus,
    SubmissionType,
    check_json,
    check_text,
    check_version,
    parse_enum,
)
from ..errors import (
    InvalidModel,
    InvalidPredictions,
    InvalidSpec,
    PayloadTooLarge,
    PermissionDenied,
    SubmissionNotFound,
)
from . import competition
from .access import Access, Caller, can_manage
from .evaldata import EvalDataRepo
from .playgrounds import Playgrounds
from .registry import (
    PlaygroundRow,
    Registry,
    SubmissionRow,
    TeamRow,
    UserRow,
    artifact_in_use,
    team_of,
    utcnow,
)
from .settings import Settings
from .storage import ArtifactStore

log = logging.getLogger(__name__)

_META_LIMIT = 256 * 1024
MAX_PREPROCESSOR = 32 * 2**20  # a tokenizer.json of a large vocabulary is a few MiB
ARTIFACT_KINDS = ("model", "original", "preprocessor")


class EvaluationQueue(Protocol):
    """Where the service sends jobs: the hub wires in the Ray implementation, tests an in-process
    one. Results come back through :meth:`Submissions.complete`."""

    def submit(self, job: EvaluationJob) -> None: ...


@dataclass
class SubmissionUpload:
    meta: SubmissionMeta
    model: bytes | None = None
    original: bytes | None = None  # the original: scikit-learn as skops, PyTorch/Keras weights as safetensors
    preprocessor: bytes | None = None  # an aims_spaces.core.preprocess document (data, never code)
    predictions: pd.DataFrame | None = None


@dataclass
class _Checked:
    submission_type: SubmissionType
    predictions_parquet: bytes | None = None
    blobs: dict[str, bytes] = field(default_factory=dict)


def original_format(data: bytes) -> str:
    """``skops`` (a zip) or ``safetensors`` (an 8-byte header length, then JSON)."""
    if data[:4] == b"PK\x03\x04":
        return "skops"
    if len(data) > 9 and data[8:9] == b"{":
        return "safetensors"
    return "unknown"


def check_original(data: bytes) -> None:
    """An original model must be a skops file naming only trusted types, or safetensors weights.
    Neither is unpickled: skops is audited, safetensors holds only tensors."""
    kind = original_format(data)
    if kind == "skops":
        check_skops(data)
    elif kind == "safetensors":
        from safetensors.numpy import load

        try:
            load(data)
        except Exception as e:  # the Rust side raises SafetensorError for a broken header
            raise InvalidModel(f"the original weights are not a readable safetensors file: {e}") from None
    else:
        raise InvalidModel("the original model must be a skops file (scikit-learn) or safetensors weights")


def _json_size(value: Any) -> int:
    import json

    return len(json.dumps(value, default=str))


class Submissions:
    """Submissions: accept an upload (checked, stored, recorded ``queued`` with its version in
    one transaction), hand its evaluation to the queue, record the first result, and show each
    caller the submissions and scores they may see."""

    def __init__(
        self,
        registry: Registry,
        store: ArtifactStore,
        evaldata: EvalDataRepo,
        playgrounds: Playgrounds,
        settings: Settings,
    ) -> None:
        self.registry = registry
        self.store = store
        self.evaldata = evaldata
        self.playgrounds = playgrounds
        self.settings = settings
        self.queue: EvaluationQueue | None = None
        self._listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()

    def attach_queue(self, queue: EvaluationQueue) -> None:
        self.queue = queue

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from any thread) whenever a submission reaches a final state."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def _changed(self) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    # --- submit --------------------------------------------------------------------------

    def submit(self, caller: Caller | None, name: str, upload: SubmissionUpload) -> SubmissionInfo:
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.SUBMIT)
            pg_snapshot = _PlaygroundView.of(pg)
        assert caller is not None
        checked = self._check(pg_snapshot, upload)
        stored = sum(
            len(data)
            for data in (upload.model, upload.original, upload.preprocessor, checked.predictions_parquet)
            if data is not None
        )

        pinned: list[str] = []  # held until the row naming them is in (or this fails)
        digests: dict[str, str | None] = {
            "model": None,
            "original": None,
            "predictions": None,
            "preprocessor": None,
        }
        try:
            for kind, data in (
                ("model", upload.model),
                ("original", upload.original),
                ("preprocessor", upload.preprocessor),
                ("predictions", checked.predictions_parquet),
            ):
                if data is not None:
                    digest, _ = self.store.put(data, pin=True)
                    pinned.append(digest)
                    digests[kind] = digest
            with self.registry.session() as s:
                pg = self.playgrounds.load(s, name, caller, Access.SUBMIT)
                # The version comes from an UPDATE on the playground row: it locks the row, so
                # concurrent submits take turns on every backend (the quota below is counted
                # under that lock), and a rollback returns the number (no gaps).
                version = (
                    s.execute(
                        update(PlaygroundRow)
                        .where(PlaygroundRow.id == pg.id)
                        .values(next_version=PlaygroundRow.next_version + 1)
                        .returning(PlaygroundRow.next_version)
                    ).scalar_one()
                    - 1
                )
                now = utcnow()
                rules = self.playgrounds.rules(pg)
                competition.check_accepts(rules, checked.submission_type, now, name)
                self.playgrounds.check_storage(s, caller, stored)
                manages = can_manage(pg, caller)
                if competition.needs_quota(rules, checked.submission_type, manages=manages, now=now):
                    used = self.playgrounds.used_today(s, pg, caller, now)
                    competition.check_quota(rules, used, now, name)
                meta = upload.meta
                sub = SubmissionRow(
                    playground_id=pg.id,
                    version=version,
                    user_id=caller.user_id,
                    team_id=team_of(s, pg.id, caller.user_id),  # an entry is its submitter's team's
                    submission_type=checked.submission_type.value,
                    status=SubmissionStatus.QUEUED.value,
                    description=meta.description,
                    model_sha256=digests["model"],
                    original_sha256=digests["original"],
                    preprocessor_sha256=digests["preprocessor"],
                    predictions_sha256=digests["predictions"],
                    stored_bytes=stored,
                    framework=meta.framework or ("onnx" if upload.model is not None else None),
                    model_type=meta.model_type,
                    model_metadata=meta.metadata,
                    custom_metadata=meta.custom_metadata,
                )
                s.add(sub)
                s.flush()
                job = self._job(pg, sub, admin=caller.is_admin)
                info = self.info(s, pg, sub, caller)
        except BaseException:
            # Every file this submit stored, not only those it created: one it found stored may
            # have been left by a submit that failed while this one held it.
            stored_here, pinned = pinned, []
            self.store.unpin(stored_here)
            self._discard(stored_here)
            raise
        finally:
            self.store.unpin(pinned)
        log.info("%s v%d submitted by %s", name, version, caller.username)
        self._enqueue(job)
        return info

    def _check(self, pg: _PlaygroundView, upload: SubmissionUpload) -> _Checked:
        meta = upload.meta
        stype = parse_enum(SubmissionType, meta.submission_type, "submission_type")
        check_text(meta.description, "description", max_length=10_000, multiline=True)
        if meta.framework is not None:
            check_text(meta.framework, "framework", max_length=32)
        if meta.model_type is not None:
            check_text(meta.model_type, "model_type", max_length=128)
        for what, value in (("metadata", meta.metadata), ("custom_metadata", meta.custom_metadata)):
            check_json(value, what)
            if _json_size(value) > _META_LIMIT:
                raise InvalidSpec(f"{what} is larger than {_META_LIMIT // 1024} KiB")
        if upload.model is None and upload.predictions is None:
            raise InvalidSpec("a submission needs a model, predictions, or both")
        if upload.model is None and not pg.has_eval_features and upload.predictions is None:
            raise InvalidSpec("this playground has no eval features: submit predictions")
        preprocessor = None
        if upload.preprocessor is not None:
            if upload.model is None:
                raise InvalidSpec("a preprocessor only makes sense with a model")
            if len(upload.preprocessor) > MAX_PREPROCESSOR:
                raise PayloadTooLarge(
                    f"the preprocessor document is larger than {MAX_PREPROCESSOR // 2**20} MiB"
                )
            preprocessor = preprocess.load(upload.preprocessor, limits=self.settings.decode_limits)
            _check_kind(preprocessor.spec.kind, pg.signature.input_type)
        for what, data in (("model", upload.model), ("original", upload.original)):
            if data is not None and len(data) > self.settings.max_model_bytes:
                raise PayloadTooLarge(
                    f"the {what} file is {len(data) / 2**20:.1f} MiB; the hub takes at most "
                    f"{self.settings.max_model_mb:g} MiB (AIMS_MAX_MODEL_MB)"
                )
        if upload.model is not None:
            check_model_bytes(upload.model, max_nodes=self.settings.max_graph_nodes)
            # Loading runs onnxruntime's graph optimisations, which a crafted graph can make slow.
            limit = self.settings.model_load_timeout_s
            OnnxModel(upload.model, pg.signature, preprocessor=preprocessor).load(
                deadline=Deadline.after(
                    limit, lambda: InvalidModel(f"the model took longer than {limit:g} s to load")
                )
            )
        elif pg.metric.needs_probabilities:
            raise InvalidSpec(
                f"this playground ranks by {pg.metric.value}, which needs class probabilities: "
                "submit a model, not only predictions"
            )
        if upload.original is not None:
            check_original(upload.original)
        checked = _Checked(submission_type=stype)
        if upload.predictions is not None:
            checked.predictions_parquet = self._check_predictions(pg, upload.predictions)
        elif not pg.has_eval_features:
            raise InvalidSpec("this playground has no eval features, so predictions are required")
        return checked

    def _check_predictions(self, pg: _PlaygroundView, predictions: pd.DataFrame) -> bytes:
        if predictions.shape[1] != 1:
            raise InvalidPredictions(f"predictions must be one column, got {predictions.shape[1]}")
        column = predictions.iloc[:, 0]
        if pg.signature.classification:
            ClassIndex(pg.signature.classes or []).encode(column, "predictions", n_rows=pg.n_rows)
        else:
            if len(column) != pg.n_rows:
                raise InvalidPredictions(
                    f"predictions has {len(column)} rows but the eval data has {pg.n_rows}"
                )
            clean_targets(column, "predictions", InvalidPredictions)
        return frame_to_parquet(pd.DataFrame({"prediction": column.reset_index(drop=True)}))

    def _discard(self, digests: list[str]) -> None:
        """Remove the blobs of a failed submit that no row names and no other submit holds."""
        for digest in dict.fromkeys(digests):
            self.store.delete_unused(digest, lambda d=digest: self._artifact_in_use(d))

    def _artifact_in_use(self, digest: str) -> bool:
        with self.registry.session() as s:  # a short session: no write lock while a file goes
            return artifact_in_use(s, digest)

    # --- evaluation ------------------------------------------------------------------------

    def _job(self, pg: PlaygroundRow, sub: SubmissionRow, admin: bool = False) -> EvaluationJob:
        return EvaluationJob(
            submission_id=sub.id,
            playground=pg.name,
            version=sub.version,
            signature=pg.signature,
            eval_metric=Metric(pg.eval_metric),
            eval_data_id=pg.eval_data_id,
            has_competition_split=pg.competition.has_split,
            model_sha256=sub.model_sha256 if pg.has_eval_features else None,
            predictions_sha256=sub.predictions_sha256,
            preprocessor_sha256=sub.preprocessor_sha256,
            artifact_url=self.store.url,
            evaldata_url=self.evaldata.url,
            bootstrap_samples=self.settings.bootstrap_samples,
            decode_limits=self.settings.decode_limits.model_dump(mode="json"),
            account=None if admin else sub.user_id,
        )

    def _enqueue(self, job: EvaluationJob) -> None:
        if self.queue is None:
            log.warning("no evaluation queue attached; submission %d stays queued", job.submission_id)
            return
        with self.registry.session() as s:
            s.execute(
                update(SubmissionRow)
                .where(
                    SubmissionRow.id == job.submission_id,
                    SubmissionRow.status == SubmissionStatus.QUEUED.value,
                )
                .values(status=SubmissionStatus.RUNNING.value, started_at=utcnow())
            )
        self.queue.submit(job)

    def requeue_unfinished(self) -> int:
        """Send every queued or running submission to the queue again (at hub start)."""
        with self.registry.session() as s:
            rows = s.execute(
                select(SubmissionRow, PlaygroundRow, UserRow.is_admin)
                .join(PlaygroundRow, PlaygroundRow.id == SubmissionRow.playground_id)
                .join(UserRow, UserRow.id == SubmissionRow.user_id)
                .where(
                    or_(
                        SubmissionRow.status.in_(
                            [SubmissionStatus.QUEUED.value, SubmissionStatus.RUNNING.value]
                        ),
                        SubmissionRow.rescore_pending.is_(True),
                    )
                )
                .order_by(SubmissionRow.id)
            ).all()
            jobs = [self._job(pg, sub, admin=is_admin) for sub, pg, is_admin in rows]
            s.execute(
                update(SubmissionRow)
                .where(SubmissionRow.status == SubmissionStatus.RUNNING.value)
                .values(status=SubmissionStatus.QUEUED.value)
            )
        for job in jobs:
            self._enqueue(job)
        if jobs:
            log.info("re-queued %d unfinished submission(s)", len(jobs))
        return len(jobs)

    def rescore(self, session: Session, pg: PlaygroundRow) -> list[EvaluationJob]:
        """Mark every scored submission of ``pg`` to be scored again (after its eval data or
        ranking metric changed) and return their jobs, to :meth:`send` once the change is
        committed. Their old scores stand until the new ones arrive; the jobs run as the hub's
        (no participant's evaluation limit is used up)."""
        subs = session.scalars(select(SubmissionRow).where(SubmissionRow.playground_id == pg.id)).all()
        jobs = []
        for sub in subs:
            status = SubmissionStatus(sub.status)
            if status is SubmissionStatus.FAILED:
                continue
            # A submission still waiting or running is scored on the old data: its result is
            # set aside when it arrives and it is sent again (see complete).
            sub.rescore_pending = True
            if status is SubmissionStatus.SCORED:
                jobs.append(self._job(pg, sub, admin=True))
        session.flush()
        return jobs

    def send(self, jobs: list[EvaluationJob]) -> None:
        for job in jobs:
            self._enqueue(job)

    def complete(self, submission_id: int, result: EvaluationResult) -> bool:
        """Record an evaluator's result. Only the first result for a submission counts (and, while
        it is being scored again after a change of the eval data, the new one)."""
        now = utcnow()
        again = None
        with self.registry.session() as s:
            sub = s.get(SubmissionRow, submission_id)
            if sub is None or (SubmissionStatus(sub.status).finished and not sub.rescore_pending):
                log.info("ignored a second result for submission %s", submission_id)
                return False
            rescoring = sub.rescore_pending
            pg = s.get(PlaygroundRow, sub.playground_id) if rescoring else None
            stale = (
                pg is not None
                and result.eval_data_id is not None
                and (result.eval_data_id, result.eval_metric) != (pg.eval_data_id, pg.eval_metric)
            )
            if stale and SubmissionStatus(sub.status).finished:
                log.info(
                    "set aside a result for submission %s from before its eval data changed", submission_id
                )
                return False
            if stale:
                # Its job ran on the eval data from before a change: score it again on the new.
                sub.rescore_pending = False
                sub.status = SubmissionStatus.QUEUED.value
                again = self._job(pg, sub)
                done = 0
            else:
                done = self._write(s, sub, result, now, rescoring)
        if again is not None:
            self._enqueue(again)
            return False
        if done:
            self._changed()
        return bool(done)

    def _write(
        self, s: Session, sub: SubmissionRow, result: EvaluationResult, now: Any, rescoring: bool
    ) -> int:
        submission_id = sub.id
        if result.ok:
            duplicate = s.scalar(
                select(SubmissionRow.version)
                .where(
                    SubmissionRow.playground_id == sub.playground_id,
                    SubmissionRow.scored_predictions_sha256 == result.predictions_sha256,
                    SubmissionRow.version < sub.version,
                )
                .order_by(SubmissionRow.version)
                .limit(1)
            )
            values: dict[str, Any] = dict(
                status=SubmissionStatus.SCORED.value,
                scores=result.scores,
                intervals=result.intervals,
                verified=result.verified,
                mismatch_fraction=result.mismatch_fraction,
                scored_predictions_sha256=result.predictions_sha256,
                duplicate_of=duplicate,
                onnx_metadata=result.onnx_metadata,
                evaluated_by={**result.evaluated_by, "seconds": round(result.seconds, 4)},
                scored_at=now,
                error=None,
                rescore_pending=False,
            )
        else:
            values = dict(
                status=SubmissionStatus.FAILED.value,
                error=result.error or "evaluation failed",
                evaluated_by=result.evaluated_by,
                scored_at=now,
                rescore_pending=False,
            )
            if rescoring:
                values["error"] = f"scoring again after the eval data changed failed: {values['error']}"
        waiting = SubmissionRow.status.in_([SubmissionStatus.QUEUED.value, SubmissionStatus.RUNNING.value])
        done = s.execute(
            update(SubmissionRow)
            .where(SubmissionRow.id == submission_id, or_(waiting, SubmissionRow.rescore_pending.is_(True)))
            .values(**values)
        ).rowcount
        return int(done or 0)

    # --- read ------------------------------------------------------------------------------

    def get(self, caller: Caller | None, name: str, version: int) -> SubmissionInfo:
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.READ)
            return self.info(s, pg, self._row(s, pg, version), caller)

    def list(self, caller: Caller | None, name: str) -> list[SubmissionInfo]:
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.READ)
            subs = s.scalars(
                select(SubmissionRow)
                .where(SubmissionRow.playground_id == pg.id)
                .order_by(SubmissionRow.version)
            )
            return [self.info(s, pg, sub, caller) for sub in subs]

    def artifact(self, caller: Caller | None, name: str, version: int, kind: str) -> bytes:
        """A submission's file. Until the competition closes, only for its submitter and those who
        manage the playground (:func:`competition.may_download`)."""
        if kind not in ARTIFACT_KINDS:
            raise InvalidSpec(f"unknown artifact kind {kind!r}; use 'model', 'original' or 'preprocessor'")
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.READ)
            sub = self._row(s, pg, version)
            assert caller is not None
            ours = sub.user_id == caller.user_id or (
                sub.team_id is not None and sub.team_id == team_of(s, pg.id, caller.user_id)
            )
            if not competition.may_download(
                self.playgrounds.rules(pg),
                is_submitter=ours,
                manages=can_manage(pg, caller),
                now=utcnow(),
            ):
                raise PermissionDenied(
                    f"version {version} of {name!r} is another participant's: its files are private "
                    "to its submitter and the owner until the competition closes (and to the "
                    "submitter's team)"
                )
            digest = {
                "model": sub.model_sha256,
                "original": sub.original_sha256,
                "preprocessor": sub.preprocessor_sha256,
            }[kind]
        if digest is None:
            raise SubmissionNotFound(f"version {version} of {name!r} has no {kind} file")
        return self.store.get(digest)

    @staticmethod
    def _row(s: Session, pg: PlaygroundRow, version: int) -> SubmissionRow:
        check_version(version)
        sub = s.scalar(
            select(SubmissionRow).where(
                SubmissionRow.playground_id == pg.id, SubmissionRow.version == version
            )
        )
        if sub is None:
            raise SubmissionNotFound(f"playground {pg.name!r} has no version {version}")
        return sub

    def info(
        self, s: Session, pg: PlaygroundRow, sub: SubmissionRow, caller: Caller | None
    ) -> SubmissionInfo:
        user = s.get(UserRow, sub.user_id)
        team = s.get(TeamRow, sub.team_id) if sub.team_id is not None else None
        manages = can_manage(pg, caller)
        scores, intervals = competition.visible_scores(
            self.playgrounds.rules(pg),
            sub.scores or {},
            sub.intervals or {},
            metric=pg.eval_metric,
            manages=manages,
            now=utcnow(),
        )
        # Which machine and process scored it is for those who run the playground, not for everyone.
        evaluated_by = sub.evaluated_by or {}
        if not manages:
            evaluated_by = {k: v for k, v in evaluated_by.items() if k == "seconds"}
        return SubmissionInfo(
            playground=pg.name,
            version=sub.version,
            username=user.username if user else "?",
            team=team.name if team else None,
            selected=sub.selected,
            submission_type=SubmissionType(sub.submission_type),
            status=SubmissionStatus(sub.status),
            error=sub.error,
            description=sub.description,
            created_at=sub.created_at,
            scored_at=sub.scored_at,
            framework=sub.framework,
            model_type=sub.model_type,
            has_model=sub.model_sha256 is not None,
            has_original=sub.original_sha256 is not None,
            has_preprocessor=sub.preprocessor_sha256 is not None,
            metadata=sub.model_metadata or {},
            custom_metadata=sub.custom_metadata or {},
            onnx_metadata=sub.onnx_metadata or {},
            scores=scores,
            intervals=intervals,
            verified=sub.verified,
            mismatch_fraction=sub.mismatch_fraction,
            duplicate_of=sub.duplicate_of,
            evaluated_by=evaluated_by,
        )


@dataclass(frozen=True)
class _PlaygroundView:
    """The parts of a playground row needed to validate an upload outside a transaction."""

    signature: Signature
    metric: Metric
    n_rows: int
    has_eval_features: bool

    @classmethod
    def of(cls, pg: PlaygroundRow) -> _PlaygroundView:
        return cls(
            signature=pg.signature,
            metric=Metric(pg.eval_metric),
            n_rows=pg.n_eval_rows,
            has_eval_features=pg.has_eval_features,
        )


# The preprocessor each kind of playground takes: its raw inputs are what the spec decodes.
PREPROCESSOR_KIND = {
    InputType.IMAGE: "image",
    InputType.AUDIO: "audio",
    InputType.VIDEO: "video",
    InputType.TEXT: "tokenizer",
}


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _check_kind(kind: str, input_type: InputType) -> None:
    wanted = PREPROCESSOR_KIND.get(input_type)
    if kind != wanted:
        takes = f"it takes {_a(wanted)} preprocessor" if wanted else "it takes none (models read the columns)"
        raise InvalidSpec(f"{_a(kind)} preprocessor does not fit {_a(input_type.value)} playground: {takes}")
