"""Competition privacy and limits: a participant never sees a private score or a label."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from aims_spaces import (
    AuthenticationRequired,
    CompetitionClosed,
    ModelPlayground,
    OnnxPredictor,
    PermissionDenied,
    PlaygroundNotFound,
    QuotaExceeded,
)
from tests.conftest import artifact_files

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def comp(users, iris):
    owner = users("hannah")
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="iris-comp", client=owner)
    pg.create(
        eval_data=iris["y_test"],
        eval_features=iris["X_test"],
        y_train=iris["y_train"],
        public_fraction=0.5,
        daily_submission_limit=3,
    )
    return pg


def _as(pg: ModelPlayground, client) -> ModelPlayground:
    return ModelPlayground(name=pg.name, client=client)


def _all_json_a_participant_can_read(hub, token: str, name: str, version: int) -> list[object]:
    h = {"Authorization": f"Bearer {token}"}
    base = f"{hub.url}/api/playgrounds/{name}"
    urls = [
        base,
        f"{base}/submissions",
        f"{base}/submissions/{version}",
        f"{base}/leaderboard",
        f"{base}/leaderboard?board=competition",
        f"{hub.url}/api/playgrounds",
        f"{base}/competition/quota",
    ]
    out = []
    for url in urls:
        r = httpx.get(url, headers=h)
        assert r.status_code == 200, (url, r.text)
        out.append(r.json())
    return out


def _keys(obj) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | set().union(*(_keys(v) for v in obj.values()))
    if isinstance(obj, list):
        return set().union(*(_keys(v) for v in obj)) if obj else set()
    return set()


def test_participants_never_see_private_scores_or_labels(hub, users, comp, iris):
    bob = users("bob")
    pg = _as(comp, bob)
    clf = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    sub = pg.submit_model(model=clf, submission_type="competition").wait()
    assert set(sub.scores) == {"public"}
    # While the competition is open: the ranking metric alone, rounded, and no interval.
    assert set(sub.scores["public"]) == {"accuracy"} and sub.info.intervals == {}

    board = pg.get_leaderboard(submission_type="competition")
    assert board.attrs["ranked_on"] == "public"
    assert not any(c.startswith("private_") for c in board.columns)
    exp = pg.get_leaderboard(submission_type="experiment")
    assert exp.empty or exp.attrs["scored_on"] == "public"

    token = bob.token
    payloads = _all_json_a_participant_can_read(hub, token, comp.name, sub.version)
    text = json.dumps(payloads)
    for payload in payloads:
        assert "label" not in _keys(payload) and "labels" not in _keys(payload)
        for scores in _values(payload, "scores") + _values(payload, "intervals"):
            splits = set(scores) & {"all", "public", "private"}
            assert splits <= {"public"}, scores  # never "private", nor "all" (all - public = private)
        assert set(_values(payload, "scored_on")) <= {"public"}  # leaderboards: public rows only
        assert set(_values(payload, "ranked_on")) <= {"public"}
        assert all(
            v is None for v in _values(payload, "private_scores") + _values(payload, "private_interval")
        )
    # No label column in the features members may download.
    features = pg.get_eval_features()
    assert list(features.columns) == list(iris["X_test"].columns)
    # The labels themselves appear nowhere (the class names do, in the class list, never the row order).
    assert "is_public" not in text

    # The owner sees the private board beside the public one.
    owner_board = comp.get_leaderboard(submission_type="competition")
    assert "private_accuracy" in owner_board.columns
    owner_sub = comp.get_submission(sub.version)
    assert {"public", "private", "all"} <= set(owner_sub.scores)


def _values(obj, key: str) -> list:
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.append(v)
            found.extend(_values(v, key))
    elif isinstance(obj, list):
        for v in obj:
            found.extend(_values(v, key))
    return found


@pytest.mark.usefixtures("one_utc_day")
def test_daily_cap_is_enforced_and_readable(hub, users, comp, iris):
    dana = users("dana")
    pg = _as(comp, dana)
    clf = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    quota = pg.get_submission_quota()
    assert (quota.limit, quota.used, quota.remaining) == (3, 0, 3)
    for i in range(3):
        pg.submit_model(model=clf, submission_type="competition" if i % 2 else "all")
    assert pg.get_submission_quota().remaining == 0
    before_subs = len(comp.list_submissions())
    before_files = artifact_files(hub.home)
    for stype in ("competition", "experiment"):
        # While the competition is open an experiment shows public-row scores too, so it counts.
        with pytest.raises(QuotaExceeded, match="all 3 submissions for today.*experiments count too"):
            pg.submit_model(
                model=LogisticRegression(max_iter=50, C=3.0).fit(iris["X_train"], iris["y_train"]),
                submission_type=stype,
            )
    assert len(comp.list_submissions()) == before_subs
    assert artifact_files(hub.home) == before_files
    # The owner holds the labels: their experiments are not limited.
    comp.submit_model(model=clf, submission_type="experiment")


def test_only_the_owner_closes_and_then_everyone_sees_the_private_board(users, comp):
    bob = _as(comp, users("bob"))
    with pytest.raises(PermissionDenied):
        bob.close_competition()
    with pytest.raises(PermissionDenied):
        bob.update_competition(daily_submission_limit=100)
    # Until the close a participant's files are theirs (and the owner's): nobody resubmits the leader.
    danas = next(s for s in bob.list_submissions() if s.username == "dana" and s.has_original)
    with pytest.raises(PermissionDenied, match="private to its submitter"):
        bob.instantiate_model(danas.version, prefer="onnx")
    info = comp.close_competition()
    assert info.competition.is_closed
    # Late entries are refused (nothing is stored), experiments go on, the standing is final.
    before = len(comp.list_submissions())
    with pytest.raises(CompetitionClosed, match="no longer accepted"):
        bob.submit_model(prediction_submission=["setosa"] * comp.info.n_eval_rows, submission_type="all")
    assert len(comp.list_submissions()) == before
    bob.submit_model(prediction_submission=["setosa"] * comp.info.n_eval_rows, submission_type="experiment")
    with pytest.raises(CompetitionClosed, match="can no longer change"):
        comp.update_competition(clear_deadline=True)
    # After the close everyone may read the files; another participant's scikit-learn original is
    # rebuilt only on request (by default their ONNX model runs, as data).
    assert isinstance(bob.instantiate_model(danas.version), OnnxPredictor)
    assert type(bob.instantiate_model(danas.version, trust_original=True)).__name__ == "LogisticRegression"
    board = bob.get_leaderboard(submission_type="competition")
    assert board.attrs["ranked_on"] == "private"
    assert "private_accuracy" in board.columns
    assert board.sort_values("rank")["private_accuracy"].is_monotonic_decreasing
    for sub in bob.list_submissions():
        if sub.status.value == "scored":
            assert "private" in sub.scores


def test_private_playgrounds_are_invisible_to_non_members(users, iris, anonymous):
    owner, eve, mallory = users("priya"), users("eve"), users("mallory")
    pg = ModelPlayground(
        input_type="tabular", task_type="classification", private=True, name="secret", client=owner
    )
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
    for client in (mallory, anonymous):
        outsider = _as(pg, client)
        with pytest.raises(PlaygroundNotFound):
            outsider.get_leaderboard()
        with pytest.raises((PlaygroundNotFound, AuthenticationRequired)):
            outsider.get_eval_features()
        with pytest.raises((PlaygroundNotFound, AuthenticationRequired)):
            outsider.submit_model(prediction_submission=iris["y_test"].to_numpy())
    assert "secret" not in {p["name"] for p in mallory.request("GET", "/api/playgrounds")}

    pg.add_member("eve")
    member = _as(pg, eve)
    member.submit_model(prediction_submission=iris["y_test"].to_numpy()).wait()
    assert len(member.get_leaderboard()) == 1
    assert "secret" in {p["name"] for p in eve.request("GET", "/api/playgrounds")}
    with pytest.raises(PermissionDenied):
        member.add_member("mallory")
    pg.remove_member("eve")
    with pytest.raises(PlaygroundNotFound):
        member.get_leaderboard()


def test_anonymous_callers_read_public_leaderboards_and_nothing_else(anonymous, comp):
    pg = _as(comp, anonymous)
    assert len(pg.get_leaderboard()) >= 0
    for call in (
        pg.get_info,
        pg.get_eval_features,
        pg.list_submissions,
        pg.get_submission_quota,
        lambda: pg.get_submission(1),
        lambda: anonymous.request("GET", "/api/playgrounds"),
    ):
        with pytest.raises(AuthenticationRequired):
            call()


def test_deadline_in_the_past_closes_the_competition(users, iris):
    from datetime import UTC, datetime, timedelta

    owner = users("hannah")
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="iris-deadline", client=owner)
    pg.create(
        eval_data=iris["y_test"],
        eval_features=iris["X_test"],
        competition_deadline=datetime.now(UTC) + timedelta(days=1),
    )
    assert not pg.info.competition.is_closed
    bob = _as(pg, users("bob"))
    sub = bob.submit_model(
        prediction_submission=iris["y_test"].to_numpy(), submission_type="competition"
    ).wait()
    assert "private" not in sub.scores
    pg.update_competition(deadline=datetime.now(UTC) - timedelta(seconds=1))
    assert pg.get_info().competition.is_closed
    assert "private" in bob.get_submission(sub.version).scores
    assert np.isclose(bob.get_submission(sub.version).scores["private"]["accuracy"], 1.0)


def test_teams_and_final_selections_over_rest(users, iris):
    """A team made and joined with the client, a final selection, the close, and the standings
    exported as CSV: one row per team or participant, ranked on private scores of finals."""
    from aims_spaces import LimitReached, TeamNotFound

    owner = users("tessa")
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="iris-teams", client=owner)
    pg.create(
        eval_data=iris["y_test"],
        eval_features=iris["X_test"],
        y_train=iris["y_train"],
        public_fraction=0.5,
        final_selections=1,
        shown_metrics=["balanced_accuracy", "mcc"],
    )
    assert pg.info.competition.final_selections == 1
    assert [m.value for m in pg.info.shown_metrics] == ["accuracy", "balanced_accuracy", "mcc"]
    uma, vic, wes = (_as(pg, users(n)) for n in ("uma", "vic", "wes"))
    team = uma.create_team("lynx")
    with pytest.raises(TeamNotFound):
        vic.join_team("x" * 20)
    assert vic.join_team(team.join_code).members == ["uma", "vic"]
    assert [t.name for t in wes.list_teams()] == ["lynx"]

    y = iris["y_test"].to_numpy()
    rough = y.copy()
    rough[::2] = np.roll(y, 1)[::2]
    good = uma.submit_model(prediction_submission=y, submission_type="competition").wait()
    worse = vic.submit_model(prediction_submission=rough, submission_type="competition").wait()
    wes.submit_model(prediction_submission=rough, submission_type="competition").wait()
    assert [e.version for e in uma.list_entries()] == [good.version, worse.version]
    with pytest.raises(LimitReached, match="at most 1 final"):
        vic.select_final([good.version, worse.version])
    assert [e.version for e in vic.select_final([worse.version])] == [worse.version]
    assert [e.selected for e in uma.list_entries()] == [False, True]

    board = wes.get_leaderboard(submission_type="competition")
    assert sorted(board["username"].tolist()) == ["uma", "wes"] and board["team"].tolist()[0] == "lynx"
    pg.close_competition()
    standings = wes.get_standings()
    # The team stands by its selected (worse) entry; its better one does not count.
    lynx = standings[standings["entrant"] == "lynx"].iloc[0]
    assert (lynx["version"], lynx["entries"]) == (worse.version, 2)
    assert set(standings["entrant"]) == {"lynx", "wes"} and "private_accuracy" in standings
    r = httpx.get(f"{pg.client.url}/api/playgrounds/iris-teams/competition/standings.csv")
    assert r.status_code == 200 and r.text.splitlines()[0].startswith("rank,entrant,team,submitted_by")
