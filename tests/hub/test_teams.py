"""Teams and final selections through the service layer (no Ray, no web server): join codes,
size limits, the merge rule, leaving, a team's shared quota and files, selections, and the
competition board with one row per team or participant."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select, update

from aims_spaces.errors import (
    CompetitionClosed,
    InvalidSpec,
    LimitReached,
    PermissionDenied,
    QuotaExceeded,
    TeamConflict,
    TeamNotFound,
)
from aims_spaces.hub.registry import PlaygroundRow, utcnow


def _public_mask(service, name: str) -> np.ndarray:
    with service.hub.registry.session() as s:
        eval_data_id = s.scalar(select(PlaygroundRow.eval_data_id).where(PlaygroundRow.name == name))
    return np.asarray(service.hub.evaldata.labels(eval_data_id).is_public)


def _wrong(y: np.ndarray, mask: np.ndarray, classes: list) -> np.ndarray:
    """``y`` with the rows of ``mask`` moved to another class."""
    out = y.copy()
    for i in np.flatnonzero(mask):
        out[i] = classes[(classes.index(y[i]) + 1) % len(classes)]
    return out


@pytest.fixture
def comp(service, iris):
    owner = service.user("owner")
    service.playground(owner, "comp", iris, public_fraction=0.5)
    return owner


@pytest.mark.usefixtures("one_utc_day")
def test_a_team_is_joined_by_its_code_and_shares_entries_quota_and_files(service, iris, comp):
    ann, bob, cat = service.user("ann"), service.user("bob"), service.user("cat")
    y = iris["y_test"].to_numpy()
    before = service.submit_predictions(bob, "comp", y, submission_type="competition")
    team = service.hub.teams.create(ann, "comp", "owls")
    assert team.members == ["ann"] and team.join_code
    with pytest.raises(TeamNotFound):
        service.hub.teams.join(bob, "comp", "not-the-code")
    joined = service.hub.teams.join(bob, "comp", team.join_code)
    assert joined.members == ["ann", "bob"] and joined.join_code is None  # shown once, at creation
    # Bob's earlier entry is now the team's; Ann sees it among the team's entries and may
    # download it, a stranger may not.
    entries = service.hub.teams.entries(ann, "comp")
    assert [(e.version, e.username, e.team) for e in entries] == [(before.version, "bob", "owls")]
    assert service.hub.submissions.get(ann, "comp", before.version).team == "owls"
    # The quota (3 a day in these tests) is the team's: Bob used one, Ann two more, then none.
    service.submit_predictions(ann, "comp", y, submission_type="competition")
    service.submit_predictions(ann, "comp", y, submission_type="experiment")
    with pytest.raises(QuotaExceeded):
        service.submit_predictions(bob, "comp", y, submission_type="competition")
    assert service.hub.playgrounds.quota(bob, "comp").used == 3
    assert service.hub.playgrounds.quota(cat, "comp").used == 0
    with pytest.raises(TeamConflict, match="already in a team"):
        service.hub.teams.create(bob, "comp", "ravens")
    with pytest.raises(TeamConflict, match="already exists"):
        service.hub.teams.create(cat, "comp", "owls")
    # A new code replaces the old one.
    fresh = service.hub.teams.new_code(ann, "comp")
    with pytest.raises(TeamNotFound):
        service.hub.teams.join(cat, "comp", team.join_code)
    assert service.hub.teams.join(cat, "comp", fresh.join_code).members == ["ann", "bob", "cat"]
    assert [t.name for t in service.hub.teams.list(cat, "comp")] == ["owls"]


@pytest.mark.usefixtures("one_utc_day")
def test_team_size_limit_and_the_merge_rule(service, iris, comp):
    service.hub.playgrounds.update_competition(comp, "comp", team_size_limit=2)
    ann, bob, cat = service.user("ann"), service.user("bob"), service.user("cat")
    y = iris["y_test"].to_numpy()
    code = service.hub.teams.create(ann, "comp", "pair").join_code
    service.hub.teams.join(bob, "comp", code)
    with pytest.raises(LimitReached, match="at most 2 members"):
        service.hub.teams.join(cat, "comp", code)

    # The merge rule: a day into the competition the limit (3 a day) allows 3 entries; a team
    # with 2 cannot take in a participant who made 2.
    service.hub.playgrounds.update_competition(comp, "comp", team_size_limit=4)
    for who in (ann, bob, cat, cat):
        service.submit_predictions(who, "comp", y, submission_type="competition")
    with pytest.raises(LimitReached, match="merging would give the team 4 entries, more than the 3"):
        service.hub.teams.join(cat, "comp", code)
    # Two days in, 6 are allowed: the same merge passes.
    with service.hub.registry.session() as s:
        s.execute(
            update(PlaygroundRow)
            .where(PlaygroundRow.name == "comp")
            .values(competition_start=utcnow() - timedelta(days=1))
        )
    assert service.hub.teams.join(cat, "comp", code).members == ["ann", "bob", "cat"]


def test_leaving_a_team_and_a_competition_for_individuals(service, iris, comp):
    ann, bob = service.user("ann"), service.user("bob")
    code = service.hub.teams.create(ann, "comp", "duo").join_code
    service.hub.teams.join(bob, "comp", code)
    service.hub.teams.leave(bob, "comp")  # nothing of the team's is his
    assert service.hub.teams.mine(ann, "comp").members == ["ann"]
    service.submit_predictions(ann, "comp", iris["y_test"], submission_type="competition")
    with pytest.raises(PermissionDenied, match="cannot be split"):
        service.hub.teams.leave(ann, "comp")
    with pytest.raises(TeamNotFound):
        service.hub.teams.leave(bob, "comp")

    solo = service.user("solo")
    service.playground(solo, "alone", iris, team_size_limit=1)
    with pytest.raises(InvalidSpec, match="for individuals"):
        service.hub.teams.create(ann, "alone", "pair")
    with pytest.raises(InvalidSpec, match="team_size_limit"):
        service.playground(solo, "bad", iris, team_size_limit=0)


def test_final_selections_decide_the_private_standing(service, iris, comp):
    """An entrant with many entries is judged on its selected finals only; without a choice, its
    best public entries. The board has one row per team or participant."""
    ann, bob, cat = service.user("ann"), service.user("bob"), service.user("cat")
    y = iris["y_test"].to_numpy()
    public = _public_mask(service, "comp")
    classes = sorted(set(y))
    overfit = _wrong(y, ~public, classes)  # perfect on the public rows, wrong on the private ones
    honest = _wrong(y, public & (np.arange(len(y)) % 4 == 0), classes)  # a few public errors
    # Ann: the overfit entry (best public) and the honest one; she selects only the overfit one.
    a1 = service.submit_predictions(ann, "comp", overfit, submission_type="competition")
    a2 = service.submit_predictions(ann, "comp", honest, submission_type="competition")
    # Bob and Cat are a team: the same two entries, no selection (their best 2 public count).
    code = service.hub.teams.create(bob, "comp", "bc").join_code
    service.hub.teams.join(cat, "comp", code)
    service.submit_predictions(bob, "comp", overfit, submission_type="competition")
    b2 = service.submit_predictions(cat, "comp", honest, submission_type="competition")

    with pytest.raises(LimitReached, match="at most 2 final"):
        service.hub.teams.select_final(ann, "comp", [a1.version, a2.version, a2.version + 100])
    with pytest.raises(InvalidSpec, match="cannot be final"):
        service.hub.teams.select_final(ann, "comp", [b2.version])
    chosen = service.hub.teams.select_final(ann, "comp", [a1.version])
    assert [(c.version, c.selected) for c in chosen] == [(a1.version, True)]

    board = service.hub.leaderboards.get(cat, "comp", "competition")
    assert len(board.rows) == 2  # one row per entrant, not four
    assert {(r.team, r.entries) for r in board.rows} == {(None, 2), ("bc", 2)}

    service.hub.playgrounds.update_competition(comp, "comp", close=True)
    with pytest.raises(CompetitionClosed):
        service.hub.teams.select_final(ann, "comp", [a2.version])
    board = service.hub.leaderboards.get(ann, "comp", "competition")
    first, second = board.rows
    # The team's unselected best two include the honest entry, which wins on the private rows;
    # Ann's selection holds her to the overfit one, however good her other entry is.
    assert (first.team, first.version, first.private_scores["accuracy"]) == ("bc", b2.version, 1.0)
    assert (second.username, second.version) == ("ann", a1.version)
    assert second.private_scores["accuracy"] == 0.0
    experiment = service.hub.leaderboards.get(ann, "comp")
    assert len(experiment.rows) == 0  # competition entries are not experiments


def test_boards_show_the_chosen_metric_columns(service, iris, diabetes):
    owner = service.user("owner")
    service.playground(
        owner, "cols", iris, eval_metric="balanced_accuracy", shown_metrics=["mcc", "f1_weighted"]
    )
    info = service.hub.playgrounds.get(owner, "cols")
    assert [m.value for m in info.shown_metrics] == ["balanced_accuracy", "mcc", "f1_weighted"]
    service.submit_predictions(owner, "cols", iris["y_test"])
    row = service.hub.leaderboards.get(owner, "cols").rows[0]
    assert list(row.scores) == ["balanced_accuracy", "mcc", "f1_weighted"]
    full = service.hub.submissions.get(owner, "cols", row.version).scores["all"]
    assert {"accuracy", "cohen_kappa", "recall_micro"} <= set(full)  # all are kept
    with pytest.raises(InvalidSpec, match="does not apply to classification"):
        service.playground(owner, "cols2", iris, shown_metrics=["rmse"])
    with pytest.raises(InvalidSpec, match="unknown metric"):
        service.playground(owner, "cols3", iris, shown_metrics=["nonsense"])
    service.playground(owner, "reg", diabetes, eval_metric="pinball_90")
    assert service.hub.playgrounds.get(owner, "reg").shown_metrics[0].value == "pinball_90"
