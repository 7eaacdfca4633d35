"""Running one evaluation job in the current process: load what the job refers to (artifacts by
digest, the playground's private eval data) and score it with :func:`scoring.evaluate`.

No Ray here: the Ray task in :mod:`.ray_queue` calls :func:`run_job`, and so does any in-process
queue (the hub's fast tests use one).
"""

from __future__ import annotations

import os
import socket
import threading
from collections import OrderedDict
from typing import Any

from aims_spaces.core import preprocess
from aims_spaces.core.tabular import parquet_to_frame
from aims_spaces.domain import EvaluationJob, EvaluationResult
from aims_spaces.hub.evaldata import EvalDataRepo, EvalLabels
from aims_spaces.hub.storage import ArtifactStore

from . import scoring

_CACHE_SIZE = 4
_cache: OrderedDict[tuple[str, str], tuple[EvalLabels, Any]] = OrderedDict()
_cache_lock = threading.Lock()


def _eval_data(job: EvaluationJob) -> tuple[EvalLabels, Any]:
    key = (job.evaldata_dir, job.eval_data_id)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    repo = EvalDataRepo(job.evaldata_dir)
    value = (repo.labels(job.eval_data_id), repo.features(job.eval_data_id))
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def run_job(job: EvaluationJob) -> EvaluationResult:
    """Load what ``job`` refers to and score it (the body of the Ray task; callable without Ray)."""
    labels, features = _eval_data(job)
    store = ArtifactStore(job.artifact_url)
    model_bytes = store.get(job.model_sha256) if job.model_sha256 else None
    preprocessor = preprocess.load(store.get(job.preprocessor_sha256)) if job.preprocessor_sha256 else None
    uploaded = None
    if job.predictions_sha256:
        uploaded = parquet_to_frame(store.get(job.predictions_sha256), "predictions")
    result = scoring.evaluate(
        job,
        labels=labels,
        features=features,
        model_bytes=model_bytes,
        uploaded=uploaded,
        preprocessor=preprocessor,
    )
    return result.model_copy(update={"evaluated_by": {"host": socket.gethostname(), "pid": os.getpid()}})
