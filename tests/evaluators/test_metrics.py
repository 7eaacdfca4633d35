import numpy as np
import pytest
from sklearn import metrics as skm

from aims_spaces.domain import Metric
from evaluators.metrics import METRICS, _per_row_terms, _resampled, bootstrap_interval

rng = np.random.default_rng(0)
K = 4
Y_TRUE = rng.integers(0, K, 400)
Y_PRED = np.where(rng.random(400) < 0.7, Y_TRUE, rng.integers(0, K, 400))
PROBA = rng.dirichlet(np.ones(K), 400)
R_TRUE = rng.normal(size=300)
R_PRED = R_TRUE + rng.normal(scale=0.5, size=300)


def test_classification_metrics_match_scikit_learn():
    assert METRICS[Metric.ACCURACY](Y_TRUE, Y_PRED) == pytest.approx(skm.accuracy_score(Y_TRUE, Y_PRED))
    assert METRICS[Metric.F1_MACRO](Y_TRUE, Y_PRED, k=K) == pytest.approx(
        skm.f1_score(Y_TRUE, Y_PRED, average="macro")
    )
    assert METRICS[Metric.LOG_LOSS](Y_TRUE, Y_PRED, proba=PROBA, k=K) == pytest.approx(
        skm.log_loss(Y_TRUE, PROBA, labels=range(K)), rel=1e-6
    )
    assert METRICS[Metric.ROC_AUC](Y_TRUE, Y_PRED, proba=PROBA, k=K) == pytest.approx(
        skm.roc_auc_score(Y_TRUE, PROBA, multi_class="ovr"), rel=1e-6
    )


def test_regression_metrics_match_scikit_learn():
    assert METRICS[Metric.RMSE](R_TRUE, R_PRED) == pytest.approx(
        np.sqrt(skm.mean_squared_error(R_TRUE, R_PRED))
    )
    assert METRICS[Metric.R2](R_TRUE, R_PRED) == pytest.approx(skm.r2_score(R_TRUE, R_PRED))
    assert METRICS[Metric.MAE](R_TRUE, R_PRED) == pytest.approx(skm.mean_absolute_error(R_TRUE, R_PRED))


@pytest.mark.parametrize(
    "metric", [Metric.ACCURACY, Metric.F1_MACRO, Metric.PRECISION_MACRO, Metric.RECALL_MACRO]
)
def test_vectorised_resamples_equal_the_plain_metric(metric):
    idx = np.random.default_rng(1).integers(0, Y_TRUE.size, size=(5, Y_TRUE.size))
    fast = _resampled(metric, idx, Y_TRUE, Y_PRED, _per_row_terms(metric, Y_TRUE, Y_PRED, None), K)
    slow = [METRICS[metric](Y_TRUE[i], Y_PRED[i], k=K) for i in idx]
    np.testing.assert_allclose(fast, slow, rtol=1e-12)


@pytest.mark.parametrize("metric", [Metric.RMSE, Metric.MAE, Metric.R2, Metric.MSE])
def test_vectorised_regression_resamples_equal_the_plain_metric(metric):
    idx = np.random.default_rng(2).integers(0, R_TRUE.size, size=(5, R_TRUE.size))
    fast = _resampled(metric, idx, R_TRUE, R_PRED, _per_row_terms(metric, R_TRUE, R_PRED, None), 0)
    slow = [METRICS[metric](R_TRUE[i], R_PRED[i]) for i in idx]
    np.testing.assert_allclose(fast, slow, rtol=1e-10)


@pytest.mark.parametrize("metric", list(Metric))
def test_bootstrap_interval_brackets_the_estimate(metric):
    if metric.task_type.value == "regression":
        args, kwargs = (R_TRUE, R_PRED), {}
    else:
        args, kwargs = (Y_TRUE, Y_PRED), {"proba": PROBA, "k": K}
    point = METRICS[metric](*args, **kwargs)
    lo, hi = bootstrap_interval(metric, *args, n_boot=300, seed=3, **kwargs)
    assert lo < point < hi
    assert bootstrap_interval(metric, *args, n_boot=300, seed=3, **kwargs) == [lo, hi]  # seeded


def test_bootstrap_interval_is_narrow_for_large_samples():
    y = rng.integers(0, 2, 20000)
    p = np.where(rng.random(20000) < 0.9, y, 1 - y)
    lo, hi = bootstrap_interval(Metric.ACCURACY, y, p, k=2, n_boot=500)
    assert hi - lo < 0.02
