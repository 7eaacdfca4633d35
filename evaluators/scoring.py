"""Score one submission from loaded inputs. Pure: no Ray, no database, no files.

Where the model and the eval features are both at hand the model's own outputs are scored
("verified") and compared with the uploaded predictions; otherwise the uploaded predictions are
scored as they are.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np
import pandas as pd

from aims_spaces.core.onnx_model import Deadline, OnnxModel, graph_metadata, parse_onnx
from aims_spaces.core.tabular import ClassIndex, clean_targets
from aims_spaces.domain import EvaluationJob, EvaluationResult, Metric, Split, TaskType
from aims_spaces.errors import AimsError, InvalidPredictions
from aims_spaces.hub.evaldata import EvalLabels

from .metrics import METRICS, bootstrap_interval

# Every metric of the task is computed on each split, so a playground may show any of them;
# those from probabilities only when the model gives probabilities.
CLASSIFICATION_METRICS = [
    m for m in Metric if m.task_type is TaskType.CLASSIFICATION and not m.needs_probabilities
]
PROBABILITY_METRICS = [m for m in Metric if m.task_type is TaskType.CLASSIFICATION and m.needs_probabilities]
REGRESSION_METRICS = [m for m in Metric if m.task_type is TaskType.REGRESSION]


def evaluate(
    job: EvaluationJob,
    *,
    labels: EvalLabels,
    features: pd.DataFrame | None,
    model_bytes: bytes | None,
    uploaded: pd.DataFrame | None,
    preprocessor: Any = None,
    deadline: Deadline | None = None,
) -> EvaluationResult:
    """Score a submission; a problem with the submission itself gives ``ok=False``, not a raise.

    ``deadline`` stops loading and running the model (its error becomes the failure).
    """
    start = time.perf_counter()
    try:
        result = _evaluate(job, labels, features, model_bytes, uploaded, preprocessor, deadline)
    except AimsError as e:
        return EvaluationResult(ok=False, error=e.message, seconds=time.perf_counter() - start)
    return result.model_copy(update={"seconds": time.perf_counter() - start})


def _evaluate(
    job: EvaluationJob,
    labels: EvalLabels,
    features: pd.DataFrame | None,
    model_bytes: bytes | None,
    uploaded: pd.DataFrame | None,
    preprocessor: Any = None,
    deadline: Deadline | None = None,
) -> EvaluationResult:
    n = labels.labels.shape[0]
    signature = job.signature
    classification = signature.classification
    index = ClassIndex(signature.classes or []) if classification else None
    y_true = index.encode(labels.labels, "eval labels") if index else labels.labels.astype(np.float64)
    k = len(signature.classes or [])

    onnx_meta: dict[str, Any] = {}
    model_pred: np.ndarray | None = None
    proba: np.ndarray | None = None
    if model_bytes is not None:
        onnx_meta = graph_metadata(parse_onnx(model_bytes), len(model_bytes))
        if features is not None:
            model = OnnxModel(model_bytes, signature, preprocessor=preprocessor).load(deadline=deadline)
            out = model.run(features, deadline=deadline)
            model_pred = out.indices if classification else out.values
            proba = out.probabilities

    uploaded_pred: np.ndarray | None = None
    if uploaded is not None:
        column = uploaded.iloc[:, 0] if uploaded.shape[1] else pd.Series([], dtype=float)
        if index is not None:
            uploaded_pred = index.encode(column, "predictions", n_rows=n)
        else:
            if len(column) != n:
                raise InvalidPredictions(f"predictions has {len(column)} rows but the eval data has {n}")
            uploaded_pred = clean_targets(column, "predictions", InvalidPredictions)

    mismatch = None
    if model_pred is not None:
        y_pred = model_pred
        if uploaded_pred is not None:
            if classification:
                differs = model_pred != uploaded_pred
            else:
                differs = ~np.isclose(model_pred, uploaded_pred, rtol=1e-5, atol=1e-6)
            mismatch = float(np.mean(differs))
    elif uploaded_pred is not None:
        y_pred = uploaded_pred
    else:
        raise InvalidPredictions(
            "nothing to score: the submission has no predictions and the hub has no eval "
            "features to run the model on"
        )

    splits = {Split.ALL: np.ones(n, dtype=bool)}
    if job.has_competition_split:
        splits[Split.PUBLIC] = labels.is_public
        splits[Split.PRIVATE] = ~labels.is_public
    else:
        splits[Split.PUBLIC] = splits[Split.ALL]

    scores: dict[str, dict[str, float | None]] = {}
    intervals: dict[str, list[float]] = {}
    metrics = (
        (CLASSIFICATION_METRICS + (PROBABILITY_METRICS if proba is not None else []))
        if classification
        else REGRESSION_METRICS
    )
    for split, mask in splits.items():
        if split is Split.PUBLIC and not job.has_competition_split:
            # The same rows as ``all`` (and the same seed): copy rather than compute again.
            scores[split.value] = dict(scores[Split.ALL.value])
            if Split.ALL.value in intervals:
                intervals[split.value] = list(intervals[Split.ALL.value])
            continue
        yt, yp = y_true[mask], y_pred[mask]
        pr = proba[mask] if proba is not None else None
        scores[split.value] = {
            m.value: (METRICS[m](yt, yp, proba=pr, k=k) if yt.size else None) for m in metrics
        }
        ci = bootstrap_interval(
            job.eval_metric, yt, yp, proba=pr, k=k, n_boot=job.bootstrap_samples, seed=job.submission_id
        )
        if ci is not None:
            intervals[split.value] = ci

    pred_bytes = np.ascontiguousarray(y_pred, dtype=np.int64 if classification else np.float64).tobytes()
    return EvaluationResult(
        ok=True,
        scores=scores,
        intervals=intervals,
        verified=model_pred is not None,
        mismatch_fraction=mismatch,
        predictions_sha256=hashlib.sha256(pred_bytes).hexdigest(),
        onnx_metadata=onnx_meta,
    )
