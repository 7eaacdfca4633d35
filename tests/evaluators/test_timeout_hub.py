"""A model that runs for ever, submitted to the real hub with ordinary ones: it fails with
"timed out after N s" (the hub's AIMS_EVALUATION_TIMEOUT_S) and the others are scored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sklearn.linear_model import LogisticRegression

from aims_spaces import EvaluationFailed, ModelPlayground, SubmissionStatus
from aims_spaces.client.conversion import convert
from aims_spaces.core.tabular import infer_schema
from aims_spaces.domain import TaskType
from tests.conftest import signature
from tests.evaluators.runaway_models import loop_for_ever

pytestmark = pytest.mark.hub


def test_a_runaway_submission_times_out_and_the_others_are_scored(users, iris, hub):
    limit = hub.extra_env["AIMS_EVALUATION_TIMEOUT_S"]  # the session hub's (tests/conftest.py)
    owner = users("sam")
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="runaway", client=owner)
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
    X, y = iris["X_train"], iris["y_train"]
    lr = LogisticRegression(max_iter=1000).fit(X, y)
    onnx = convert(lr, signature(infer_schema(X), TaskType.CLASSIFICATION, sorted(set(y)))).onnx

    runaway = pg.submit_model(model=loop_for_ever(onnx))  # passes the upload checks: never run there
    others = [
        pg.submit_model(model=LogisticRegression(C=c, max_iter=1000).fit(X, y)) for c in (0.1, 1.0, 10.0)
    ]
    with pytest.raises(EvaluationFailed, match=f"timed out after {float(limit):g} s"):
        runaway.wait(timeout=float(limit) * 4 + 60)
    for sub in others:
        sub.wait(timeout=120)
        assert sub.info.status is SubmissionStatus.SCORED
        assert sub.info.scores["public"]["accuracy"] > 0.7


def test_one_account_cannot_take_every_evaluator(users, iris, hub):
    """An account submitting slow models gets at most AIMS_USER_MAX_RUNNING_EVALUATIONS (2)
    evaluators at once; another account's submission is scored meanwhile, not after them."""
    greedy, other = users("greedy"), users("patient")
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="fair-share", client=greedy)
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
    X, y = iris["X_train"], iris["y_train"]
    onnx = convert(LogisticRegression(max_iter=1000).fit(X, y), pg.info.signature).onnx
    runaways = [pg.submit_model(model=loop_for_ever(onnx), submission_type="experiment") for _ in range(3)]
    theirs = ModelPlayground(name="fair-share", client=other)
    sub = theirs.submit_model(model=LogisticRegression(C=0.5, max_iter=1000).fit(X, y))
    sub.wait(timeout=120)
    assert sub.info.status is SubmissionStatus.SCORED
    # Scored before any runaway could have given its evaluator back: each runs from after its
    # acceptance until the limit stops it (the hub's clock on both sides, no client polling).
    limit = timedelta(seconds=float(hub.extra_env["AIMS_EVALUATION_TIMEOUT_S"]))
    first_end = min(pg.get_submission(r.version).info.created_at for r in runaways) + limit
    assert sub.info.scored_at is not None and sub.info.scored_at < first_end, (sub.info.scored_at, first_end)
    # And the runaways did hold evaluators meanwhile: the first two end by the time limit, not
    # by failing at once (which would have left every evaluator free).
    for runaway in runaways[:2]:
        with pytest.raises(EvaluationFailed, match="timed out after"):
            runaway.wait(timeout=limit.total_seconds() * 4 + 60)
