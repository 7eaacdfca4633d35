"""The differential probing attack on a regression playground, run against the real hub within
one day's limit: how little of the hidden labels it learns.

The attack: submit constant predictions, then the same predictions with one row changed by a
large step. The change of the public MSE says whether that row is public and, if it is, its label:
``y_i = (d**2 - n_public * (mse_i - mse_0)) / (2 d)`` for a step ``d`` from the constant. With
unlimited submissions at full precision, n + 1 of them recover every public label exactly. Here
each participant has ``daily_limit`` scored submissions per day (experiments included while the
competition is open), each showing one number (the ranking metric, RMSE here) to 4 significant
digits, so one day's probing recovers at most ``daily_limit - 1`` public labels, and a private
row's probe reads exactly the baseline's score (docs/security.md states the bound).

The attacker cannot know which rows are public; the test does (it reads the split the hub wrote,
as ground truth) and probes a public row first and then alternates, so both outcomes are seen in
every run instead of by the luck of the secret split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aims_spaces import ModelPlayground, QuotaExceeded
from tests.conftest import evaldata_dirs

pytestmark = pytest.mark.hub

LIMIT = 5


def _the_split(home, before: set[str], y: np.ndarray) -> np.ndarray:
    """The public/private mask of the eval data a playground's creation just wrote."""
    (new_id,) = evaldata_dirs(home) - before
    labels = pd.read_parquet(home / "evaldata" / new_id / "labels.parquet")
    assert np.allclose(labels["label"].to_numpy(dtype=float), y)
    return labels["is_public"].to_numpy(dtype=bool)


@pytest.mark.usefixtures("one_utc_day")
def test_a_days_probing_learns_at_most_limit_minus_one_public_labels(hub, users, diabetes):
    owner, attacker = users("probe-owner"), users("probe-attacker")
    pg = ModelPlayground(input_type="tabular", task_type="regression", name="probe-target", client=owner)
    y = diabetes["y_test"].to_numpy(dtype=float)
    before = evaldata_dirs(hub.home)
    pg.create(
        eval_data=y, eval_features=diabetes["X_test"], daily_submission_limit=LIMIT, public_fraction=0.5
    )
    is_public = _the_split(hub.home, before, y)
    public_rows, private_rows = np.flatnonzero(is_public), np.flatnonzero(~is_public)
    # Public, private, public, private, ...: more probes than the day allows.
    order = [int(r) for pair in zip(public_rows, private_rows, strict=False) for r in pair]

    theirs = ModelPlayground(name="probe-target", client=attacker)
    n = len(y)
    # The public share is on the playground's page; the count follows from it as the hub splits.
    n_public = min(max(round(n * 0.5), 1), n - 1)
    assert n_public == len(public_rows)
    c, step = 150.0, 3000.0
    seen: list[float] = []

    def public_mse(predictions: np.ndarray, stype: str = "experiment") -> float:
        sub = theirs.submit_model(prediction_submission=predictions, submission_type=stype).wait()
        # Private and all-rows scores stay hidden; of the public ones, only the ranking metric.
        assert set(sub.scores) == {"public"} and set(sub.scores["public"]) == {"rmse"}, sub.scores
        seen.append(float(sub.scores["public"]["rmse"]))
        return seen[-1] ** 2

    baseline = np.full(n, c)
    mse0 = public_mse(baseline)
    learned: dict[int, float] = {}
    changed: dict[int, bool] = {}
    for k, row in enumerate(order):
        probe = baseline.copy()
        probe[row] = c + step
        try:
            mse = public_mse(probe, "competition" if k % 2 else "experiment")
        except QuotaExceeded:
            break
        changed[row] = mse != mse0
        if changed[row]:
            learned[row] = c + (step**2 - n_public * (mse - mse0)) / (2 * step)

    # One day's limit: one baseline and LIMIT - 1 probes, no more, experiments counted too.
    assert len(changed) == LIMIT - 1
    # Every number the attacker saw carries at most 4 significant digits.
    assert all(v == float(f"{v:.4g}") for v in seen), seen
    # A public row's probe moves the score and gives its label away (as the bound says: one label
    # per probe); a private row's probe reads exactly the baseline's score and reveals nothing.
    assert changed == {row: bool(is_public[row]) for row in changed}, changed
    assert sorted(learned) == sorted(r for r in changed if is_public[r])
    assert all(abs(learned[r] - y[r]) < 5 for r in learned), {r: (learned[r], y[r]) for r in learned}
    # Nothing beyond the probed rows was learned: every other label stays as unknown as before.
    assert len(learned) <= LIMIT - 1
    # The owner sees what the attacker saw at full precision; the attacker, only rounded values.
    board = pg.get_leaderboard()
    assert (board["mse"] != board["mse"].astype(float).map(lambda v: float(f"{v:.4g}"))).any()
