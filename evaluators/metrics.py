"""Pure metric functions and bootstrap intervals.

Classification metrics take class *indices* (``y_true``, ``y_pred`` in ``0..k-1``) and, where they
need them, a probability matrix ``proba`` of shape ``(n, k)``. Regression metrics take floats.
Each metric is ``metric(y_true, y_pred, *, ...) -> float``, like scikit-learn's, whose
implementations they use; the bootstrap computes its resamples vectorised from the same
definitions (tests check the two agree).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import metrics as skm

from aims_spaces.domain import Metric


def accuracy(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(np.mean(y_true == y_pred))


def f1_macro(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return float(
        skm.f1_score(y_true, y_pred, labels=_present(y_true, y_pred, k), average="macro", zero_division=0)
    )


def precision_macro(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return float(
        skm.precision_score(
            y_true, y_pred, labels=_present(y_true, y_pred, k), average="macro", zero_division=0
        )
    )


def recall_macro(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return float(
        skm.recall_score(y_true, y_pred, labels=_present(y_true, y_pred, k), average="macro", zero_division=0)
    )


def log_loss(y_true: np.ndarray, y_pred: np.ndarray, *, proba: np.ndarray, k: int, **_: object) -> float:
    return float(np.mean(_row_log_loss(y_true, proba)))


def roc_auc(
    y_true: np.ndarray, y_pred: np.ndarray, *, proba: np.ndarray, k: int, **_: object
) -> float | None:
    """One-vs-rest macro ROC AUC over the classes present in ``y_true``; None when undefined."""
    present = np.unique(y_true)
    if present.size < 2:
        return None
    if k == 2:
        return float(skm.roc_auc_score(y_true, proba[:, 1]))
    aucs = [skm.roc_auc_score(y_true == c, proba[:, c]) for c in present]
    return float(np.mean(aucs))


def mse(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(skm.mean_squared_error(y_true, y_pred))


def rmse(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))


def mae(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(skm.mean_absolute_error(y_true, y_pred))


def r2(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float | None:
    if y_true.size < 2 or np.all(y_true == y_true[0]):
        return None
    return float(skm.r2_score(y_true, y_pred))


METRICS: dict[Metric, Callable[..., float | None]] = {
    Metric.ACCURACY: accuracy,
    Metric.F1_MACRO: f1_macro,
    Metric.PRECISION_MACRO: precision_macro,
    Metric.RECALL_MACRO: recall_macro,
    Metric.LOG_LOSS: log_loss,
    Metric.ROC_AUC: roc_auc,
    Metric.MSE: mse,
    Metric.RMSE: rmse,
    Metric.MAE: mae,
    Metric.R2: r2,
}


def _present(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    # Macro averages over the classes that occur in either array (scikit-learn's default).
    return np.union1d(np.unique(y_true), np.unique(y_pred))


def _row_log_loss(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    eps = np.finfo(np.float64).eps
    p = np.clip(proba, eps, 1 - eps)
    p = p / p.sum(axis=1, keepdims=True)
    return -np.log(p[np.arange(y_true.size), y_true])


def _macro_from_confusion(cm: np.ndarray, which: Metric) -> np.ndarray:
    """Vectorised macro precision/recall/F1 over a stack of confusion matrices (b, k, k)."""
    tp = np.einsum("bii->bi", cm).astype(np.float64)
    pred = cm.sum(axis=1).astype(np.float64)  # column sums: predicted as class
    true = cm.sum(axis=2).astype(np.float64)  # row sums: truly class
    present = (pred + true) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred > 0, tp / pred, 0.0)
        recall = np.where(true > 0, tp / true, 0.0)
        if which is Metric.PRECISION_MACRO:
            per = precision
        elif which is Metric.RECALL_MACRO:
            per = recall
        else:
            denom = precision + recall
            per = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return (per * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def bootstrap_interval(
    metric: Metric,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    proba: np.ndarray | None = None,
    k: int = 0,
    n_boot: int = 1000,
    seed: int = 0,
    chunk: int = 100,
) -> list[float] | None:
    """95% percentile bootstrap interval of ``metric`` over rows; None when it is undefined."""
    n = y_true.size
    if n_boot <= 0 or n < 2:
        return None
    if metric.needs_probabilities and proba is None:
        return None
    rng = np.random.default_rng(seed)
    stats: list[np.ndarray] = []
    if metric is Metric.ROC_AUC:
        # No cheap vectorised form; a smaller number of resamples keeps it fast.
        fn = METRICS[metric]
        vals = []
        for _ in range(min(n_boot, 200)):
            idx = rng.integers(0, n, n)
            v = fn(y_true[idx], y_pred[idx], proba=proba[idx], k=k)  # type: ignore[index]
            if v is not None:
                vals.append(v)
        if not vals:
            return None
        stats.append(np.asarray(vals))
    else:
        per_row = _per_row_terms(metric, y_true, y_pred, proba)
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            idx = rng.integers(0, n, size=(b, n), dtype=np.int32 if n < 2**31 else np.int64)
            stats.append(_resampled(metric, idx, y_true, y_pred, per_row, k))
    values = np.concatenate(stats)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def _per_row_terms(
    metric: Metric, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None
) -> np.ndarray | None:
    if metric is Metric.ACCURACY:
        return (y_true == y_pred).astype(np.float64)
    if metric is Metric.LOG_LOSS:
        assert proba is not None
        return _row_log_loss(y_true, proba)
    if metric in (Metric.MSE, Metric.RMSE):
        return (np.asarray(y_true, dtype=np.float64) - y_pred) ** 2
    if metric is Metric.MAE:
        return np.abs(np.asarray(y_true, dtype=np.float64) - y_pred)
    return None


def _resampled(
    metric: Metric,
    idx: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    per_row: np.ndarray | None,
    k: int,
) -> np.ndarray:
    if per_row is not None:
        mean = per_row[idx].mean(axis=1)
        return np.sqrt(mean) if metric is Metric.RMSE else mean
    if metric is Metric.R2:
        yt = np.asarray(y_true, dtype=np.float64)[idx]
        sse = ((yt - y_pred[idx]) ** 2).sum(axis=1)
        sst = ((yt - yt.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(sst > 0, 1 - sse / sst, np.nan)
    # confusion-matrix metrics
    b, _n = idx.shape
    codes = (y_true.astype(np.int64) * k + y_pred)[idx] + (np.arange(b)[:, None] * k * k)
    cm = np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k)
    return _macro_from_confusion(cm, metric)
