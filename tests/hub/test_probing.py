"""The differential probing attack on a regression playground, run against the real hub within
one day's limit: how little of the hidden labels it learns.

The attack: submit constant predictions, then the same predictions with one row changed by a
large step. The change of the public MSE says whether that row is public and, if it is, its label:
``y_i = (d**2 - n_public * (mse_i - mse_0)) / (2 d)`` for a step ``d`` from the constant. With
unlimited submissions at full precision, n + 1 of them recover every public label exactly. Here
each participant has ``daily_limit`` scored submissions per day (experiments included while the
competition is open), each showing one number (the ranking metric, RMSE here) to 4 significant
digits, so one day's probing recovers at most ``daily_limit - 1`` labels, each only roughly, and
the private rows stay hidden (docs/security.md states the bound)."""

from __future__ import annotations

import numpy as np
import pytest

from aims_spaces import ModelPlayground, QuotaExceeded

pytestmark = pytest.mark.hub

LIMIT = 5


def test_a_days_probing_learns_at_most_limit_minus_one_rough_labels(users, diabetes):
    owner, attacker = users("probe-owner"), users("probe-attacker")
    pg = ModelPlayground(input_type="tabular", task_type="regression", name="probe-target", client=owner)
    y = diabetes["y_test"].to_numpy()
    pg.create(
        eval_data=y, eval_features=diabetes["X_test"], daily_submission_limit=LIMIT, public_fraction=0.5
    )
    theirs = ModelPlayground(name="probe-target", client=attacker)
    n = len(y)
    c, step = 150.0, 3000.0

    def public_mse(predictions: np.ndarray, stype: str = "experiment") -> float:
        sub = theirs.submit_model(prediction_submission=predictions, submission_type=stype).wait()
        # Private and all-rows scores stay hidden; of the public ones, only the ranking metric.
        assert set(sub.scores) == {"public"} and set(sub.scores["public"]) == {"rmse"}, sub.scores
        return float(sub.scores["public"]["rmse"]) ** 2

    baseline = np.full(n, c)
    mse0 = public_mse(baseline)
    learned: dict[int, float] = {}
    members: dict[int, bool] = {}
    row = 0
    while True:
        probe = baseline.copy()
        probe[row] = c + step
        try:
            mse = public_mse(probe, "competition" if row % 2 else "experiment")
        except QuotaExceeded:
            break
        members[row] = mse != mse0
        if members[row]:
            # The public share is on the playground's page; the count follows from it.
            n_public = round(n * 0.9)
            learned[row] = c + (step**2 - n_public * (mse - mse0)) / (2 * step)
        row += 1

    # One day's limit: one baseline and LIMIT - 1 probes, no more.
    assert len(members) == LIMIT - 1
    assert len(learned) <= LIMIT - 1
    # What was learned is rough: 4 significant digits of an MSE of about 3e4 + step**2/n.
    errors = [abs(learned[i] - y[i]) for i in learned]
    assert learned and np.mean(errors) > 0.05, errors
    # The attacker's best guess of the public labels (the probed rows as recovered, the rest at
    # the constant) is hardly better than the constant alone.
    guess = baseline.copy()
    for i, value in learned.items():
        guess[i] = value
    gain = 1 - np.mean((guess - y) ** 2) / np.mean((baseline - y) ** 2)
    assert gain < 0.1, gain
    # The owner sees what the attacker saw at full precision; the attacker, only rounded values.
    board = pg.get_leaderboard()
    assert (board["mse"] != board["mse"].astype(float).map(lambda v: float(f"{v:.4g}"))).any()
