"""Running one evaluation job in the current process: load what the job refers to (artifacts by
digest, the playground's private eval data) and score it with :func:`scoring.evaluate`.

No Ray here: the Ray task in :mod:`.ray_queue` calls :func:`run_job`, and so does any in-process
queue (the hub's fast tests use one).

A job may have a wall-clock limit: it counts from the start of :func:`run_job`, and the model's
load and run are stopped when it passes (:class:`~aims_spaces.core.onnx_model.Deadline`); the
submission then fails with "timed out after N s".
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import OrderedDict
from typing import Any

from aims_spaces.core import preprocess
from aims_spaces.core.limits import DecodeLimits
from aims_spaces.core.onnx_model import Deadline
from aims_spaces.core.tabular import parquet_to_frame
from aims_spaces.domain import EvaluationJob, EvaluationResult
from aims_spaces.errors import AimsError, InvalidModel
from aims_spaces.hub.evaldata import EvalDataRepo, EvalLabels
from aims_spaces.hub.storage import ArtifactStore

from . import scoring

_CACHE_SIZE = 4
_cache: OrderedDict[tuple[str, str], tuple[EvalLabels, Any]] = OrderedDict()
_cache_lock = threading.Lock()


def _eval_data(job: EvaluationJob) -> tuple[EvalLabels, Any]:
    key = (job.evaldata_url, job.eval_data_id)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    repo = EvalDataRepo(job.evaldata_url)
    value = (repo.labels(job.eval_data_id), repo.features(job.eval_data_id))
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def timed_out(limit_s: float) -> str:
    """Why a submission failed when its evaluation passed its wall-clock limit."""
    return (
        f"timed out after {limit_s:g} s: the evaluation ran longer than this hub allows for one "
        "submission (a model that runs for too long, or for ever)"
    )


def run_job(job: EvaluationJob, *, timeout_s: float | None = None) -> EvaluationResult:
    """Load what ``job`` refers to and score it (the body of the Ray task; callable without Ray).

    Args:
        job: the submission to score.
        timeout_s: wall-clock limit from now; the model is stopped when it passes and the
            result is a failure saying "timed out after N s".
    """
    deadline = None
    if timeout_s is not None:
        limit = timeout_s

        def error() -> Exception:
            return InvalidModel(timed_out(limit))

        deadline = Deadline(time.monotonic() + timeout_s, error)
    stamp = {"eval_data_id": job.eval_data_id, "eval_metric": job.eval_metric.value}
    try:
        labels, features = _eval_data(job)
    except AimsError as e:  # replaced meanwhile (the hub then sets this result aside), or missing
        return EvaluationResult(ok=False, error=f"the eval data could not be read: {e.message}", **stamp)
    store = ArtifactStore(job.artifact_url)
    model_bytes = store.get(job.model_sha256) if job.model_sha256 else None
    limits = DecodeLimits(**job.decode_limits)
    preprocessor = (
        preprocess.load(store.get(job.preprocessor_sha256), limits=limits)
        if job.preprocessor_sha256
        else None
    )
    uploaded = None
    if job.predictions_sha256:
        uploaded = parquet_to_frame(store.get(job.predictions_sha256), "predictions", limits=limits)
    result = scoring.evaluate(
        job,
        labels=labels,
        features=features,
        model_bytes=model_bytes,
        uploaded=uploaded,
        preprocessor=preprocessor,
        deadline=deadline,
    )
    return result.model_copy(
        update={"evaluated_by": {"host": socket.gethostname(), "pid": os.getpid()}, **stamp}
    )
