"""The demo content a fresh hub starts with (`make run`), built by the same code against the
session hub."""

import pytest

from aims_spaces import ModelPlayground
from apps.demos import DEMOS, seed_demos

pytestmark = pytest.mark.hub


def test_seed_demos_builds_scored_and_deployed_playgrounds(admin, demos, iris):
    assert list(DEMOS) == demos
    for name in demos:
        pg = ModelPlayground(name=name, client=admin)
        board = pg.get_leaderboard()
        assert len(board) >= 2 and board["verified"].all()
        assert pg.get_deployment().ready
    predicted = ModelPlayground(name="iris", client=admin).predict(iris["X_test"].head(10))["prediction"]
    assert (predicted == iris["y_test"].head(10).to_numpy()).mean() >= 0.8
    assert seed_demos(admin) == []  # a second start adds nothing
