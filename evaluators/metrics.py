"""Pure metric functions and bootstrap intervals.

Classification metrics take class *indices* (``y_true``, ``y_pred`` in ``0..k-1``) and, where they
need them, a probability matrix ``proba`` of shape ``(n, k)``. Regression metrics take floats.
Each metric is ``metric(y_true, y_pred, *, ...) -> float``, like scikit-learn's, whose
implementations they use; the bootstrap computes its resamples vectorised from the same
definitions where there is a cheap form (tests check the two agree) and calls the metric on each
resample otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import metrics as skm

from aims_spaces.domain import Metric

# --- classification, from the predicted classes ---------------------------------------------


def accuracy(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(np.mean(y_true == y_pred))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    """Mean recall over the classes in ``y_true`` (scikit-learn's ``balanced_accuracy_score``,
    computed as the macro recall over those classes, which is the same number without the
    warning it gives when ``y_pred`` has a class that ``y_true`` lacks)."""
    return float(skm.recall_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0))


def f1_macro(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return _averaged(skm.f1_score, y_true, y_pred, k, "macro")


def f1_micro(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return _averaged(skm.f1_score, y_true, y_pred, k, "micro")


def f1_weighted(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return _averaged(skm.f1_score, y_true, y_pred, k, "weighted")


def precision_macro(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return _averaged(skm.precision_score, y_true, y_pred, k, "macro")


def precision_micro(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return _averaged(skm.precision_score, y_true, y_pred, k, "micro")


def precision_weighted(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return _averaged(skm.precision_score, y_true, y_pred, k, "weighted")


def recall_macro(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return _averaged(skm.recall_score, y_true, y_pred, k, "macro")


def recall_micro(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return _averaged(skm.recall_score, y_true, y_pred, k, "micro")


def recall_weighted(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float:
    return _averaged(skm.recall_score, y_true, y_pred, k, "weighted")


def mcc(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float | None:
    """Matthews correlation coefficient; None when ``y_true`` has a single class (a correlation
    with a constant). Constant predictions against a varied truth score 0, as in scikit-learn."""
    if np.unique(y_true).size < 2:
        return None
    return float(skm.matthews_corrcoef(y_true, y_pred))


def cohen_kappa(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float | None:
    """Cohen's kappa; None when undefined (truth and predictions are all one and the same class,
    so agreement by chance is already certain)."""
    return _kappa(y_true, y_pred, k, None)


def cohen_kappa_quadratic(y_true: np.ndarray, y_pred: np.ndarray, *, k: int, **_: object) -> float | None:
    """Quadratic-weighted kappa: a disagreement between classes ``i`` and ``j`` weighs
    ``(i - j)**2``, the distance between their positions in the playground's class list (also
    for classes absent from both arrays). None when undefined, as :func:`cohen_kappa`."""
    return _kappa(y_true, y_pred, k, "quadratic")


# --- classification, from the probabilities -------------------------------------------------


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


def top_2_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, *, proba: np.ndarray, k: int, **_: object
) -> float:
    return _top_k_accuracy(y_true, proba, k, 2)


def top_3_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, *, proba: np.ndarray, k: int, **_: object
) -> float:
    return _top_k_accuracy(y_true, proba, k, 3)


def top_5_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, *, proba: np.ndarray, k: int, **_: object
) -> float:
    return _top_k_accuracy(y_true, proba, k, 5)


# --- regression -----------------------------------------------------------------------------


def mse(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(skm.mean_squared_error(y_true, y_pred))


def rmse(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))


def mae(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(skm.mean_absolute_error(y_true, y_pred))


def median_ae(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(skm.median_absolute_error(y_true, y_pred))


def mape(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    """Mean of ``|y_pred - y_true| / |y_true|`` as a fraction; a true value of 0 divides by the
    machine epsilon instead (scikit-learn's rule), which makes the value huge but finite."""
    return float(skm.mean_absolute_percentage_error(y_true, y_pred))


def r2(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float | None:
    if y_true.size < 2 or np.all(y_true == y_true[0]):
        return None
    return float(skm.r2_score(y_true, y_pred))


def explained_variance(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float | None:
    """``1 - var(y_true - y_pred) / var(y_true)``; None when ``y_true`` is constant, as for R²."""
    if y_true.size < 2 or np.all(y_true == y_true[0]):
        return None
    return float(skm.explained_variance_score(y_true, y_pred))


def pinball_10(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(skm.mean_pinball_loss(y_true, y_pred, alpha=0.1))


def pinball_25(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(skm.mean_pinball_loss(y_true, y_pred, alpha=0.25))


def pinball_50(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(skm.mean_pinball_loss(y_true, y_pred, alpha=0.5))


def pinball_75(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(skm.mean_pinball_loss(y_true, y_pred, alpha=0.75))


def pinball_90(y_true: np.ndarray, y_pred: np.ndarray, **_: object) -> float:
    return float(skm.mean_pinball_loss(y_true, y_pred, alpha=0.9))


METRICS: dict[Metric, Callable[..., float | None]] = {
    Metric.ACCURACY: accuracy,
    Metric.BALANCED_ACCURACY: balanced_accuracy,
    Metric.F1_MACRO: f1_macro,
    Metric.F1_MICRO: f1_micro,
    Metric.F1_WEIGHTED: f1_weighted,
    Metric.PRECISION_MACRO: precision_macro,
    Metric.PRECISION_MICRO: precision_micro,
    Metric.PRECISION_WEIGHTED: precision_weighted,
    Metric.RECALL_MACRO: recall_macro,
    Metric.RECALL_MICRO: recall_micro,
    Metric.RECALL_WEIGHTED: recall_weighted,
    Metric.MCC: mcc,
    Metric.COHEN_KAPPA: cohen_kappa,
    Metric.COHEN_KAPPA_QUADRATIC: cohen_kappa_quadratic,
    Metric.LOG_LOSS: log_loss,
    Metric.ROC_AUC: roc_auc,
    Metric.TOP_2_ACCURACY: top_2_accuracy,
    Metric.TOP_3_ACCURACY: top_3_accuracy,
    Metric.TOP_5_ACCURACY: top_5_accuracy,
    Metric.MSE: mse,
    Metric.RMSE: rmse,
    Metric.MAE: mae,
    Metric.MEDIAN_AE: median_ae,
    Metric.MAPE: mape,
    Metric.R2: r2,
    Metric.EXPLAINED_VARIANCE: explained_variance,
    Metric.PINBALL_10: pinball_10,
    Metric.PINBALL_25: pinball_25,
    Metric.PINBALL_50: pinball_50,
    Metric.PINBALL_75: pinball_75,
    Metric.PINBALL_90: pinball_90,
}

_TOP_K = {Metric.TOP_2_ACCURACY: 2, Metric.TOP_3_ACCURACY: 3, Metric.TOP_5_ACCURACY: 5}
_PINBALL = {
    Metric.PINBALL_10: 0.1,
    Metric.PINBALL_25: 0.25,
    Metric.PINBALL_50: 0.5,
    Metric.PINBALL_75: 0.75,
    Metric.PINBALL_90: 0.9,
}
# Metrics whose bootstrap resamples are the mean (RMSE: its root) of per-row terms.
_ROW_MEAN = {
    Metric.ACCURACY,
    Metric.LOG_LOSS,
    Metric.MSE,
    Metric.RMSE,
    Metric.MAE,
    Metric.MAPE,
    *_TOP_K,
    *_PINBALL,
}
# Metrics computed from each resample's confusion matrix.
_CONFUSION = {
    Metric.BALANCED_ACCURACY,
    Metric.F1_MACRO,
    Metric.F1_MICRO,
    Metric.F1_WEIGHTED,
    Metric.PRECISION_MACRO,
    Metric.PRECISION_MICRO,
    Metric.PRECISION_WEIGHTED,
    Metric.RECALL_MACRO,
    Metric.RECALL_MICRO,
    Metric.RECALL_WEIGHTED,
    Metric.MCC,
    Metric.COHEN_KAPPA,
    Metric.COHEN_KAPPA_QUADRATIC,
}
# Every metric with a vectorised bootstrap; the others (ROC AUC) call the metric per resample.
_VECTORISED = _ROW_MEAN | _CONFUSION | {Metric.MEDIAN_AE, Metric.R2, Metric.EXPLAINED_VARIANCE}
_LOOPED_RESAMPLES = 200
# Upper bound on the entries of one chunk of confusion matrices (b * k * k), to bound memory.
_CONFUSION_CELLS = 20_000_000


def _present(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    # Averages over the classes that occur in either array (scikit-learn's default).
    return np.union1d(np.unique(y_true), np.unique(y_pred))


def _averaged(
    score: Callable[..., float], y_true: np.ndarray, y_pred: np.ndarray, k: int, average: str
) -> float:
    labels = _present(y_true, y_pred, k)
    return float(score(y_true, y_pred, labels=labels, average=average, zero_division=0))


def _kappa(y_true: np.ndarray, y_pred: np.ndarray, k: int, weights: str | None) -> float | None:
    # Undefined (0/0) exactly when both arrays hold one and the same class.
    if np.union1d(np.unique(y_true), np.unique(y_pred)).size < 2:
        return None
    return float(skm.cohen_kappa_score(y_true, y_pred, labels=np.arange(k), weights=weights))


def _top_k_accuracy(y_true: np.ndarray, proba: np.ndarray, k: int, top: int) -> float:
    if k <= top:
        return 1.0  # every class is among the top ones
    return float(skm.top_k_accuracy_score(y_true, proba, k=top, labels=np.arange(k)))


def _row_top_k(y_true: np.ndarray, proba: np.ndarray, top: int) -> np.ndarray:
    # The same ranking as scikit-learn's top_k_accuracy_score, ties included: a stable
    # ascending sort, reversed (of equal probabilities, the higher class index ranks first).
    if proba.shape[1] <= top:
        return np.ones(y_true.size)
    order = np.argsort(proba, axis=1, kind="mergesort")[:, ::-1][:, :top]
    return (order == y_true[:, None]).any(axis=1).astype(np.float64)


def _row_log_loss(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    eps = np.finfo(np.float64).eps
    p = np.clip(proba, eps, 1 - eps)
    p = p / p.sum(axis=1, keepdims=True)
    return -np.log(p[np.arange(y_true.size), y_true])


def _row_pinball(y_true: np.ndarray, y_pred: np.ndarray, q: float) -> np.ndarray:
    diff = np.asarray(y_true, dtype=np.float64) - y_pred
    return np.where(diff >= 0, q * diff, (q - 1) * diff)


def _from_confusion(cm: np.ndarray, which: Metric) -> np.ndarray:
    """Vectorised confusion-matrix metrics over a stack of confusion matrices ``(b, k, k)``
    (rows: true class, columns: predicted class); NaN where the metric is undefined."""
    tp = np.einsum("bii->bi", cm).astype(np.float64)
    pred = cm.sum(axis=1).astype(np.float64)  # column sums: predicted as class
    true = cm.sum(axis=2).astype(np.float64)  # row sums: truly class
    n = true.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if which in (Metric.F1_MICRO, Metric.PRECISION_MICRO, Metric.RECALL_MICRO):
            return tp.sum(axis=1) / n  # pooled over classes, each of these is the accuracy
        if which is Metric.BALANCED_ACCURACY:
            in_truth = true > 0
            recall = np.where(in_truth, tp / np.where(in_truth, true, 1), 0.0)
            return recall.sum(axis=1) / np.maximum(in_truth.sum(axis=1), 1)
        if which is Metric.MCC:
            cov_tp = tp.sum(axis=1) * n - (true * pred).sum(axis=1)
            cov_pp = n**2 - (pred * pred).sum(axis=1)
            cov_tt = n**2 - (true * true).sum(axis=1)
            value = np.where(cov_pp > 0, cov_tp / np.sqrt(cov_pp * cov_tt), 0.0)
            return np.where(cov_tt > 0, value, np.nan)
        if which in (Metric.COHEN_KAPPA, Metric.COHEN_KAPPA_QUADRATIC):
            return _kappa_from_confusion(cm, true, pred, n, which is Metric.COHEN_KAPPA_QUADRATIC)
        precision = np.where(pred > 0, tp / pred, 0.0)
        recall = np.where(true > 0, tp / true, 0.0)
        if which in (Metric.PRECISION_MACRO, Metric.PRECISION_WEIGHTED):
            per = precision
        elif which in (Metric.RECALL_MACRO, Metric.RECALL_WEIGHTED):
            per = recall
        else:
            denom = precision + recall
            per = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
        if which in (Metric.F1_WEIGHTED, Metric.PRECISION_WEIGHTED, Metric.RECALL_WEIGHTED):
            return (per * true).sum(axis=1) / n
        present = (pred + true) > 0
        return (per * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _kappa_from_confusion(
    cm: np.ndarray, true: np.ndarray, pred: np.ndarray, n: np.ndarray, quadratic: bool
) -> np.ndarray:
    # kappa = 1 - sum(w * observed) / sum(w * expected), expected = outer(true, pred) / n,
    # summed without building a (b, k, k) float array.
    if quadratic:
        pos = np.arange(cm.shape[1], dtype=np.float64)
        w = (pos[:, None] - pos[None, :]) ** 2
        observed = np.einsum("bij,ij->b", cm, w)
        expected = ((true @ w) * pred).sum(axis=1) / n
    else:
        observed = n - np.einsum("bii->b", cm)
        expected = (n * n - (true * pred).sum(axis=1)) / n
    return np.where(expected > 0, 1 - observed / expected, np.nan)


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
    if metric not in _VECTORISED:
        # No cheap vectorised form; a smaller number of resamples keeps it fast.
        fn = METRICS[metric]
        vals = []
        for _ in range(min(n_boot, _LOOPED_RESAMPLES)):
            idx = rng.integers(0, n, n)
            pr = proba[idx] if proba is not None else None
            v = fn(y_true[idx], y_pred[idx], proba=pr, k=k)
            if v is not None:
                vals.append(v)
        if not vals:
            return None
        stats.append(np.asarray(vals, dtype=np.float64))
    else:
        per_row = _per_row_terms(metric, y_true, y_pred, proba)
        if metric in _CONFUSION:
            chunk = max(1, min(chunk, _CONFUSION_CELLS // max(k * k, 1)))
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
    """Per-row terms whose resampled mean (RMSE: root of the mean; median AE: median) is the
    metric; None for the metrics resampled otherwise."""
    if metric is Metric.ACCURACY:
        return (y_true == y_pred).astype(np.float64)
    if metric is Metric.LOG_LOSS:
        assert proba is not None
        return _row_log_loss(y_true, proba)
    if metric in _TOP_K:
        assert proba is not None
        return _row_top_k(y_true, proba, _TOP_K[metric])
    if metric in (Metric.MSE, Metric.RMSE):
        return (np.asarray(y_true, dtype=np.float64) - y_pred) ** 2
    if metric in (Metric.MAE, Metric.MEDIAN_AE):
        return np.abs(np.asarray(y_true, dtype=np.float64) - y_pred)
    if metric is Metric.MAPE:
        yt = np.asarray(y_true, dtype=np.float64)
        return np.abs(y_pred - yt) / np.maximum(np.abs(yt), np.finfo(np.float64).eps)
    if metric in _PINBALL:
        return _row_pinball(y_true, y_pred, _PINBALL[metric])
    return None


def _resampled(
    metric: Metric,
    idx: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    per_row: np.ndarray | None,
    k: int,
) -> np.ndarray:
    """The metric on each resample (a row of ``idx``), vectorised; NaN where undefined."""
    if metric is Metric.MEDIAN_AE:
        assert per_row is not None
        return np.median(per_row[idx], axis=1)
    if per_row is not None:
        mean = per_row[idx].mean(axis=1)
        return np.sqrt(mean) if metric is Metric.RMSE else mean
    if metric in (Metric.R2, Metric.EXPLAINED_VARIANCE):
        yt = np.asarray(y_true, dtype=np.float64)[idx]
        sst = ((yt - yt.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        err = yt - y_pred[idx]
        if metric is Metric.R2:
            sse = (err**2).sum(axis=1)
        else:
            sse = ((err - err.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(sst > 0, 1 - sse / sst, np.nan)
    if metric not in _CONFUSION:
        raise ValueError(f"no vectorised bootstrap for {metric}")
    b, _n = idx.shape
    codes = (y_true.astype(np.int64) * k + y_pred)[idx] + (np.arange(b)[:, None] * k * k)
    cm = np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k)
    return _from_confusion(cm, metric)
