import numpy as np
import pytest
from sklearn import metrics as skm

from aims_spaces.domain import Metric, TaskType
from evaluators.metrics import _VECTORISED, METRICS, _per_row_terms, _resampled, bootstrap_interval

rng = np.random.default_rng(0)
K = 4
Y_TRUE = rng.integers(0, K, 400)
Y_PRED = np.where(rng.random(400) < 0.7, Y_TRUE, rng.integers(0, K, 400))
PROBA = rng.dirichlet(np.ones(K), 400)
R_TRUE = rng.normal(size=300)
R_PRED = R_TRUE + rng.normal(scale=0.5, size=300)

CLASSIFICATION = [m for m in Metric if m.task_type is TaskType.CLASSIFICATION]
REGRESSION = [m for m in Metric if m.task_type is TaskType.REGRESSION]
SEEDS = [0, 1, 2]


def _classification_data(seed, k, n=400):
    r = np.random.default_rng(seed)
    y_true = r.integers(0, k, n)
    y_pred = np.where(r.random(n) < 0.6, y_true, r.integers(0, k, n))
    proba = r.dirichlet(np.ones(k), n)
    return y_true, y_pred, proba


def _regression_data(seed, n=300):
    r = np.random.default_rng(seed)
    y_true = r.uniform(1.0, 10.0, n)  # positive, so MAPE is well behaved
    y_pred = y_true + r.normal(scale=1.0, size=n)
    return y_true, y_pred


def _top_k(top):
    return lambda yt, yp, pr, k: skm.top_k_accuracy_score(yt, pr, k=top, labels=range(k))


# scikit-learn's own computation of each classification metric, on (y_true, y_pred, proba, k).
SK_CLASSIFICATION = {
    Metric.ACCURACY: lambda yt, yp, pr, k: skm.accuracy_score(yt, yp),
    Metric.BALANCED_ACCURACY: lambda yt, yp, pr, k: skm.balanced_accuracy_score(yt, yp),
    Metric.F1_MACRO: lambda yt, yp, pr, k: skm.f1_score(yt, yp, average="macro"),
    Metric.F1_MICRO: lambda yt, yp, pr, k: skm.f1_score(yt, yp, average="micro"),
    Metric.F1_WEIGHTED: lambda yt, yp, pr, k: skm.f1_score(yt, yp, average="weighted"),
    Metric.PRECISION_MACRO: lambda yt, yp, pr, k: skm.precision_score(yt, yp, average="macro"),
    Metric.PRECISION_MICRO: lambda yt, yp, pr, k: skm.precision_score(yt, yp, average="micro"),
    Metric.PRECISION_WEIGHTED: lambda yt, yp, pr, k: skm.precision_score(yt, yp, average="weighted"),
    Metric.RECALL_MACRO: lambda yt, yp, pr, k: skm.recall_score(yt, yp, average="macro"),
    Metric.RECALL_MICRO: lambda yt, yp, pr, k: skm.recall_score(yt, yp, average="micro"),
    Metric.RECALL_WEIGHTED: lambda yt, yp, pr, k: skm.recall_score(yt, yp, average="weighted"),
    Metric.MCC: lambda yt, yp, pr, k: skm.matthews_corrcoef(yt, yp),
    Metric.COHEN_KAPPA: lambda yt, yp, pr, k: skm.cohen_kappa_score(yt, yp),
    Metric.COHEN_KAPPA_QUADRATIC: lambda yt, yp, pr, k: skm.cohen_kappa_score(
        yt, yp, weights="quadratic", labels=range(k)
    ),
    Metric.LOG_LOSS: lambda yt, yp, pr, k: skm.log_loss(yt, pr, labels=range(k)),
    Metric.ROC_AUC: lambda yt, yp, pr, k: skm.roc_auc_score(yt, pr, multi_class="ovr"),
    Metric.TOP_2_ACCURACY: _top_k(2),
    Metric.TOP_3_ACCURACY: _top_k(3),
    Metric.TOP_5_ACCURACY: _top_k(5),
}

SK_REGRESSION = {
    Metric.MSE: skm.mean_squared_error,
    Metric.RMSE: lambda yt, yp: np.sqrt(skm.mean_squared_error(yt, yp)),
    Metric.MAE: skm.mean_absolute_error,
    Metric.MEDIAN_AE: skm.median_absolute_error,
    Metric.MAPE: skm.mean_absolute_percentage_error,
    Metric.R2: skm.r2_score,
    Metric.EXPLAINED_VARIANCE: skm.explained_variance_score,
    Metric.PINBALL_10: lambda yt, yp: skm.mean_pinball_loss(yt, yp, alpha=0.1),
    Metric.PINBALL_25: lambda yt, yp: skm.mean_pinball_loss(yt, yp, alpha=0.25),
    Metric.PINBALL_50: lambda yt, yp: skm.mean_pinball_loss(yt, yp, alpha=0.5),
    Metric.PINBALL_75: lambda yt, yp: skm.mean_pinball_loss(yt, yp, alpha=0.75),
    Metric.PINBALL_90: lambda yt, yp: skm.mean_pinball_loss(yt, yp, alpha=0.9),
}


def test_every_metric_has_a_function_and_a_reference():
    assert set(METRICS) == set(Metric)
    assert set(SK_CLASSIFICATION) == set(CLASSIFICATION)
    assert set(SK_REGRESSION) == set(REGRESSION)


# scikit-learn warns that top-5 accuracy with 4 classes is trivially 1.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@pytest.mark.parametrize("k", [4, 6])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("metric", CLASSIFICATION)
def test_classification_metrics_match_scikit_learn(metric, seed, k):
    y_true, y_pred, proba = _classification_data(seed, k)
    ours = METRICS[metric](y_true, y_pred, proba=proba, k=k)
    assert ours == pytest.approx(SK_CLASSIFICATION[metric](y_true, y_pred, proba, k), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("metric", REGRESSION)
def test_regression_metrics_match_scikit_learn(metric, seed):
    y_true, y_pred = _regression_data(seed)
    assert METRICS[metric](y_true, y_pred) == pytest.approx(SK_REGRESSION[metric](y_true, y_pred), rel=1e-12)


LABEL_METRICS = [m for m in CLASSIFICATION if not m.needs_probabilities]


# scikit-learn, without zero_division, warns about the class that is never true.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("metric", LABEL_METRICS)
def test_label_metrics_match_scikit_learn_when_a_class_is_missing(metric):
    # Of 4 classes, 2 never occurs and 3 is only ever predicted.
    y_true, y_pred, proba = _classification_data(5, 2)
    y_pred = np.where(np.arange(y_pred.size) % 17 == 0, 3, y_pred)
    ours = METRICS[metric](y_true, y_pred, k=4)
    assert ours == pytest.approx(SK_CLASSIFICATION[metric](y_true, y_pred, proba, 4), rel=1e-12)
    idx = np.random.default_rng(6).integers(0, y_true.size, size=(5, y_true.size))
    fast = _resampled(metric, idx, y_true, y_pred, _per_row_terms(metric, y_true, y_pred, None), 4)
    slow = [METRICS[metric](y_true[i], y_pred[i], k=4) for i in idx]
    np.testing.assert_allclose(fast, slow, rtol=1e-12)


def test_balanced_accuracy_ignores_classes_only_predicted():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])
    with pytest.warns(UserWarning):  # scikit-learn warns; ours computes the same without
        expected = skm.balanced_accuracy_score(y_true, y_pred)
    assert METRICS[Metric.BALANCED_ACCURACY](y_true, y_pred, k=3) == pytest.approx(expected) == 0.75


def test_quadratic_kappa_weighs_by_the_playground_class_positions():
    # Class 1 never occurs: the distance from 0 to 2 is still 2, as with labels=range(k).
    y_true = np.array([0, 0, 2, 2, 3, 3])
    y_pred = np.array([0, 0, 3, 2, 3, 0])
    ours = METRICS[Metric.COHEN_KAPPA_QUADRATIC](y_true, y_pred, k=4)
    assert ours == pytest.approx(skm.cohen_kappa_score(y_true, y_pred, weights="quadratic", labels=range(4)))
    assert ours != pytest.approx(skm.cohen_kappa_score(y_true, y_pred, weights="quadratic"))


def test_mcc_and_kappa_are_none_when_undefined_and_finite_otherwise():
    one = np.zeros(10, dtype=np.int64)
    mixed = np.arange(10) % 3
    # A single true class: a correlation with a constant is undefined.
    assert METRICS[Metric.MCC](one, mixed, k=3) is None
    assert METRICS[Metric.MCC](one, one, k=3) is None
    # Constant predictions against a varied truth: no correlation, as in scikit-learn.
    assert METRICS[Metric.MCC](mixed, one, k=3) == 0.0 == skm.matthews_corrcoef(mixed, one)
    for kappa in (Metric.COHEN_KAPPA, Metric.COHEN_KAPPA_QUADRATIC):
        # Truth and predictions all the same class: chance agreement is certain, 0/0.
        assert METRICS[kappa](one, one, k=3) is None
        assert METRICS[kappa](one, mixed, k=3) == pytest.approx(0.0)
        assert METRICS[kappa](mixed, one, k=3) == pytest.approx(0.0)
        assert METRICS[kappa](one, np.ones(10, dtype=np.int64), k=3) == pytest.approx(0.0)


@pytest.mark.parametrize("metric", [Metric.TOP_2_ACCURACY, Metric.TOP_3_ACCURACY, Metric.TOP_5_ACCURACY])
def test_top_k_accuracy_is_one_with_at_most_k_classes(metric):
    top = int(metric.value.split("_")[1])
    for k in range(2, top + 1):
        y_true, y_pred, proba = _classification_data(7, k, n=50)
        assert METRICS[metric](y_true, y_pred, proba=proba, k=k) == 1.0
        assert bootstrap_interval(metric, y_true, y_pred, proba=proba, k=k, n_boot=50) == [1.0, 1.0]


@pytest.mark.parametrize("metric", [Metric.TOP_2_ACCURACY, Metric.TOP_3_ACCURACY, Metric.TOP_5_ACCURACY])
def test_top_k_per_row_hits_break_ties_like_scikit_learn(metric):
    y_true, y_pred, proba = _classification_data(8, 7)
    proba = np.round(proba * 4) / 4  # many equal probabilities in a row
    rows = _per_row_terms(metric, y_true, y_pred, proba)
    top = int(metric.value.split("_")[1])
    assert rows.mean() == pytest.approx(skm.top_k_accuracy_score(y_true, proba, k=top, labels=range(7)))
    assert rows.mean() == pytest.approx(METRICS[metric](y_true, y_pred, proba=proba, k=7))


@pytest.mark.parametrize("k", [4, 6])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("metric", [m for m in CLASSIFICATION if m in _VECTORISED])
def test_vectorised_resamples_equal_the_plain_metric(metric, seed, k):
    y_true, y_pred, proba = _classification_data(seed, k, n=120)
    idx = np.random.default_rng(seed + 10).integers(0, y_true.size, size=(5, y_true.size))
    fast = _resampled(metric, idx, y_true, y_pred, _per_row_terms(metric, y_true, y_pred, proba), k)
    slow = [METRICS[metric](y_true[i], y_pred[i], proba=proba[i], k=k) for i in idx]
    np.testing.assert_allclose(fast, np.array(slow, dtype=np.float64), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("metric", [m for m in REGRESSION if m in _VECTORISED])
def test_vectorised_regression_resamples_equal_the_plain_metric(metric, seed):
    y_true, y_pred = _regression_data(seed)
    idx = np.random.default_rng(seed + 20).integers(0, y_true.size, size=(5, y_true.size))
    fast = _resampled(metric, idx, y_true, y_pred, _per_row_terms(metric, y_true, y_pred, None), 0)
    slow = [METRICS[metric](y_true[i], y_pred[i]) for i in idx]
    np.testing.assert_allclose(fast, slow, rtol=1e-10)


def test_vectorised_confusion_metrics_are_nan_where_the_plain_metric_is_none():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 0, 1, 2, 2])
    # Resamples of row 0 only (one class in truth and predictions) and a mixed one.
    idx = np.array([[0, 0, 0, 0, 0, 0], [0, 1, 2, 3, 4, 5]])
    for metric in (Metric.MCC, Metric.COHEN_KAPPA, Metric.COHEN_KAPPA_QUADRATIC):
        fast = _resampled(metric, idx, y_true, y_pred, None, 3)
        assert METRICS[metric](y_true[idx[0]], y_pred[idx[0]], k=3) is None and np.isnan(fast[0])
        assert fast[1] == pytest.approx(METRICS[metric](y_true, y_pred, k=3))


def test_only_roc_auc_is_resampled_by_a_loop():
    assert set(Metric) - _VECTORISED == {Metric.ROC_AUC}


@pytest.mark.parametrize("metric", list(Metric))
def test_bootstrap_interval_brackets_the_estimate(metric):
    if metric.task_type is TaskType.REGRESSION:
        args, kwargs = (R_TRUE, R_PRED), {}
    elif metric in (Metric.TOP_2_ACCURACY, Metric.TOP_3_ACCURACY, Metric.TOP_5_ACCURACY):
        # More classes than the largest top-k, so top-k accuracy is not trivially 1 (the point
        # estimate would sit on both interval edges).
        y_true, y_pred, proba = _classification_data(3, 6)
        args, kwargs = (y_true, y_pred), {"proba": proba, "k": 6}
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


def test_bootstrap_interval_of_a_confusion_metric_bounds_its_memory_for_many_classes():
    k = 300
    r = np.random.default_rng(4)
    y_true = r.integers(0, k, 2000)
    y_pred = np.where(r.random(2000) < 0.7, y_true, r.integers(0, k, 2000))
    lo, hi = bootstrap_interval(Metric.F1_WEIGHTED, y_true, y_pred, k=k, n_boot=300, seed=1)
    assert lo < METRICS[Metric.F1_WEIGHTED](y_true, y_pred, k=k) < hi


HIGHER = {
    Metric.ACCURACY,
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
    Metric.ROC_AUC,
    Metric.TOP_2_ACCURACY,
    Metric.TOP_3_ACCURACY,
    Metric.TOP_5_ACCURACY,
    Metric.R2,
    Metric.EXPLAINED_VARIANCE,
}


@pytest.mark.parametrize("metric", list(Metric))
def test_every_metric_has_a_label_a_description_a_task_type_and_a_direction(metric):
    assert isinstance(metric.label, str) and metric.label.strip()
    assert isinstance(metric.description, str) and metric.description.strip()
    assert metric.task_type in TaskType
    assert metric.higher_is_better is (metric in HIGHER)
    assert isinstance(metric.needs_probabilities, bool)


def test_labels_are_distinct_and_read_as_documented():
    assert len({m.label for m in Metric}) == len(Metric)
    assert Metric.F1_MACRO.label == "F1 (macro)"
    assert Metric.BALANCED_ACCURACY.label == "Balanced accuracy"
    assert Metric.PINBALL_90.label == "Pinball loss (q=0.9)"
    assert Metric.MAPE.label == "MAPE"
    assert Metric.TOP_3_ACCURACY.label == "Top-3 accuracy"


def test_task_types_and_probability_needs():
    assert set(REGRESSION) == {
        Metric.MSE,
        Metric.RMSE,
        Metric.MAE,
        Metric.MEDIAN_AE,
        Metric.MAPE,
        Metric.R2,
        Metric.EXPLAINED_VARIANCE,
        Metric.PINBALL_10,
        Metric.PINBALL_25,
        Metric.PINBALL_50,
        Metric.PINBALL_75,
        Metric.PINBALL_90,
    }
    assert {m for m in Metric if m.needs_probabilities} == {
        Metric.LOG_LOSS,
        Metric.ROC_AUC,
        Metric.TOP_2_ACCURACY,
        Metric.TOP_3_ACCURACY,
        Metric.TOP_5_ACCURACY,
    }
