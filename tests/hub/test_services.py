"""The service layer's rules in milliseconds: access, quotas, visibility, versions, bad input and
deployments, on a real registry and store with in-process evaluation (see conftest.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from aims_spaces.client.conversion import convert
from aims_spaces.domain import (
    Board,
    EvaluationResult,
    PlaygroundSpec,
    Split,
    SubmissionMeta,
    SubmissionStatus,
)
from aims_spaces.errors import (
    AuthenticationRequired,
    CompetitionClosed,
    InvalidEvalData,
    InvalidModel,
    InvalidPredictions,
    InvalidSpec,
    NotFound,
    PermissionDenied,
    PlaygroundExists,
    PlaygroundNotFound,
    QuotaExceeded,
)
from aims_spaces.hub.submissions import SubmissionUpload
from tests.conftest import wrong_on_some_private_row


def files_under(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_a_private_playground_is_invisible_to_all_but_its_members(service, iris):
    owner, stranger, member = service.user("owner"), service.user("stranger"), service.user("member")
    service.playground(owner, "secret", iris, private=True)
    pgs, boards = service.hub.playgrounds, service.hub.leaderboards
    for who in (None, stranger):
        with pytest.raises(PlaygroundNotFound, match="does not exist, or it is private"):
            pgs.get(who, "secret")
        with pytest.raises(PlaygroundNotFound):
            boards.get(who, "secret")
        with pytest.raises(PlaygroundNotFound):
            service.submit_predictions(who, "secret", iris["y_test"])
        assert "secret" not in [p.name for p in pgs.list(who)]
    pgs.add_member(owner, "secret", "member")
    assert pgs.get(member, "secret").members == ["member"]
    assert service.submit_predictions(member, "secret", iris["y_test"]).version == 1
    with pytest.raises(PermissionDenied, match="only the owner"):
        pgs.update_competition(member, "secret", close=True)
    with pytest.raises(PermissionDenied):
        pgs.delete(member, "secret")
    pgs.remove_member(owner, "secret", "member")
    with pytest.raises(PlaygroundNotFound):
        pgs.get(member, "secret")
    assert pgs.get(service.admin, "secret").name == "secret"  # admins see everything


def test_visitors_read_public_boards_but_need_a_token_for_more(service, iris):
    owner = service.user("owner")
    service.playground(owner, "open", iris)
    assert service.hub.leaderboards.get(None, "open").rows == []
    with pytest.raises(AuthenticationRequired):
        service.hub.playgrounds.get(None, "open")
    with pytest.raises(AuthenticationRequired):
        service.hub.playgrounds.eval_features(None, "open")
    with pytest.raises(AuthenticationRequired):
        service.submit_predictions(None, "open", iris["y_test"])
    with pytest.raises(AuthenticationRequired, match="not valid"):
        service.hub.accounts.authenticate("aims_mistyped")


def test_versions_count_up_without_gaps_even_when_submits_race(service, iris):
    owner = service.user("owner")
    service.playground(owner, "race", iris)
    assert [service.submit_predictions(owner, "race", iris["y_test"]).version for _ in range(3)] == [1, 2, 3]
    with pytest.raises(InvalidPredictions):
        service.submit_predictions(owner, "race", iris["y_test"][:3])  # refused: takes no number
    with ThreadPoolExecutor(8) as pool:
        versions = list(
            pool.map(lambda _: service.submit_predictions(owner, "race", iris["y_test"]).version, range(16))
        )
    assert sorted(versions) == list(range(4, 20))
    assert [s.version for s in service.hub.submissions.list(owner, "race")] == list(range(1, 20))


@pytest.mark.usefixtures("one_utc_day")
def test_the_daily_quota_counts_every_scored_entry_while_the_competition_is_open(service, iris):
    owner, ann = service.user("owner"), service.user("ann")
    service.playground(owner, "quota", iris, daily_submission_limit=3)
    service.queue.hold = True
    first = service.submit_predictions(ann, "quota", iris["y_test"], submission_type="competition")
    service.submit_predictions(ann, "quota", iris["y_test"], submission_type="all")
    # An experiment shows public-row scores too, so while the competition is open it counts.
    service.submit_predictions(ann, "quota", iris["y_test"], submission_type="experiment")
    for stype in ("experiment", "competition"):
        with pytest.raises(QuotaExceeded, match="all 3 submissions for today"):
            service.submit_predictions(ann, "quota", iris["y_test"], submission_type=stype)
    assert service.hub.playgrounds.quota(ann, "quota").remaining == 0
    # A failed evaluation gives the entry back; the quota is per participant.
    assert service.queue.jobs[0].version == first.version
    assert service.hub.submissions.complete(
        service.queue.jobs[0].submission_id, EvaluationResult(ok=False, error="boom")
    )
    assert service.hub.submissions.get(ann, "quota", first.version).status is SubmissionStatus.FAILED
    assert service.hub.playgrounds.quota(ann, "quota").remaining == 1
    service.submit_predictions(ann, "quota", iris["y_test"], submission_type="competition")
    # The owner holds the labels: only their competition entries count.
    for _ in range(4):
        service.submit_predictions(owner, "quota", iris["y_test"], submission_type="experiment")
    assert service.hub.playgrounds.quota(owner, "quota").remaining == 3
    # After the close nothing is left to probe: experiments are unlimited, competition entries refused.
    service.hub.playgrounds.update_competition(owner, "quota", close=True)
    for _ in range(2):
        service.submit_predictions(ann, "quota", iris["y_test"], submission_type="experiment")
    with pytest.raises(CompetitionClosed, match="closed at"):
        service.submit_predictions(ann, "quota", iris["y_test"], submission_type="all")


def test_a_result_is_recorded_once(service, iris):
    owner = service.user("owner")
    service.playground(owner, "once", iris)
    service.queue.hold = True
    sub = service.submit_predictions(owner, "once", iris["y_test"])
    job = service.queue.jobs[0]
    service.queue.release()
    assert service.hub.submissions.get(owner, "once", sub.version).status is SubmissionStatus.SCORED
    assert not service.hub.submissions.complete(job.submission_id, EvaluationResult(ok=False, error="late"))
    assert service.hub.submissions.get(owner, "once", sub.version).status is SubmissionStatus.SCORED


def test_private_scores_stay_hidden_from_participants_until_the_close(service, iris):
    owner, pat = service.user("owner"), service.user("pat")
    service.playground(owner, "comp", iris, public_fraction=0.5)
    good = iris["y_test"].to_numpy().copy()
    noisy = wrong_on_some_private_row(good)
    service.submit_predictions(pat, "comp", noisy, submission_type="all")
    service.submit_predictions(pat, "comp", good, submission_type="all")

    seen = service.hub.submissions.get(pat, "comp", 1)
    assert set(seen.scores) == {"public"} and set(seen.intervals) <= {"public"}
    assert set(service.hub.submissions.get(owner, "comp", 1).scores) == {"all", "public", "private"}
    board = service.hub.leaderboards.get(pat, "comp", Board.COMPETITION.value)
    assert (board.ranked_on, board.shows_private) == (Split.PUBLIC, False)
    assert all(row.private_scores is None for row in board.rows)
    experiment = service.hub.leaderboards.get(pat, "comp")
    assert experiment.scored_on is Split.PUBLIC  # all-rows scores would give the private ones away
    assert service.hub.leaderboards.get(owner, "comp", "competition").shows_private

    service.hub.playgrounds.update_competition(owner, "comp", close=True)
    board = service.hub.leaderboards.get(pat, "comp", "competition")
    assert (board.ranked_on, board.shows_private) == (Split.PRIVATE, True)
    assert board.rows[0].version == 2 and board.rows[0].private_scores["accuracy"] == 1.0
    assert set(service.hub.submissions.get(pat, "comp", 1).scores) == {"all", "public", "private"}


def test_refused_uploads_leave_nothing_behind(service, iris):
    owner = service.user("owner")
    service.playground(owner, "tidy", iris)
    home = service.hub.settings.home
    before = files_under(home / "artifacts")
    meta = SubmissionMeta()
    cases = [
        (SubmissionUpload(meta=meta, model=b"not onnx"), InvalidModel),
        (SubmissionUpload(meta=meta, predictions=pd.DataFrame({"p": ["setosa"] * 3})), InvalidPredictions),
        (
            SubmissionUpload(
                meta=SubmissionMeta(submission_type="bogus"), predictions=pd.DataFrame({"p": iris["y_test"]})
            ),
            InvalidSpec,
        ),
        (SubmissionUpload(meta=meta), InvalidSpec),
        (
            SubmissionUpload(meta=meta, predictions=pd.DataFrame({"p": ["tulip"] * len(iris["y_test"])})),
            InvalidPredictions,
        ),
        (
            SubmissionUpload(
                meta=meta, predictions=pd.DataFrame({"p": iris["y_test"]}), original=b"not a skops file"
            ),
            InvalidModel,
        ),
    ]
    for upload, error in cases:
        with pytest.raises(error):
            service.hub.submissions.submit(owner, "tidy", upload)
    # A preprocessor of another kind than the playground's data is refused before the model loads.
    image_spec = b'{"spec": {"kind": "image", "size": [8, 8], "mode": "L"}}'
    with pytest.raises(
        InvalidSpec, match="an image preprocessor does not fit a tabular playground: it takes none"
    ):
        service.hub.submissions.submit(
            owner, "tidy", SubmissionUpload(meta=meta, model=b"not onnx", preprocessor=image_spec)
        )
    assert service.hub.submissions.list(owner, "tidy") == []
    assert files_under(home / "artifacts") == before
    evaldata = files_under(home / "evaldata")
    with pytest.raises(InvalidEvalData, match="rows"):
        service.hub.playgrounds.create(
            owner,
            PlaygroundSpec(name="mismatch", task_type="classification"),
            eval_labels=iris["y_test"],
            eval_features=iris["X_test"].head(5),
        )
    with pytest.raises(PlaygroundExists):
        service.playground(owner, "tidy", iris)
    assert files_under(home / "evaldata") == evaldata
    assert [p.name for p in service.hub.playgrounds.list(owner)] == ["tidy"]


def test_a_model_is_run_by_the_hub_and_deployed_by_its_owner(service, iris):
    owner, member = service.user("owner"), service.user("member")
    info = service.playground(owner, "served", iris, private=True)
    clf = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    converted = convert(clf, info.signature, sample=iris["X_test"])
    sub = service.hub.submissions.submit(
        owner, "served", SubmissionUpload(meta=SubmissionMeta(framework="sklearn"), model=converted.onnx)
    )
    scored = service.hub.submissions.get(owner, "served", sub.version)
    assert scored.verified and scored.scores["all"]["accuracy"] == pytest.approx(
        clf.score(iris["X_test"], iris["y_test"])
    )
    predictions_only = service.submit_predictions(owner, "served", iris["y_test"])

    service.hub.playgrounds.add_member(owner, "served", "member")
    with pytest.raises(PermissionDenied):
        service.hub.deployments.deploy(member, "served", sub.version)
    with pytest.raises(InvalidSpec, match="no model to deploy"):
        service.hub.deployments.deploy(owner, "served", predictions_only.version)
    deployed = service.hub.deployments.deploy(owner, "served", sub.version)
    assert deployed.ready and deployed.version == sub.version
    route = service.deployer.active["served"]
    assert route.signature == info.signature and member.user_id in route.allowed_user_ids

    service.hub.playgrounds.remove_member(owner, "served", "member")  # the route follows at once
    assert member.user_id not in service.deployer.active["served"].allowed_user_ids
    assert service.hub.deployments.serving_versions() == {"served": sub.version}
    service.hub.deployments.undeploy(owner, "served")
    with pytest.raises(NotFound, match="no deployed model"):
        service.hub.deployments.get(owner, "served")


@pytest.mark.usefixtures("one_utc_day")
def test_fifty_concurrent_submissions_get_distinct_versions_and_the_quota_holds(service, iris):
    """On PostgreSQL the writers really run side by side (SQLite takes one write lock at a time):
    versions stay distinct and gap-free, and a participant racing the daily limit gets exactly it."""
    owner = service.user("owner")
    service.playground(owner, "crowd", iris, daily_submission_limit=3)
    people = [service.user(f"p{i}") for i in range(10)]
    service.queue.hold = True  # accepted, not scored: only the registry's rules are tested

    def submit(i: int) -> int:
        entry = service.submit_predictions(people[i % 10], "crowd", iris["y_test"], submission_type="all")
        return entry.version

    with ThreadPoolExecutor(10) as pool:
        versions = sorted(pool.map(submit, range(20)))
    assert versions == list(range(1, 21))

    def racer(_: int) -> str:
        try:
            service.submit_predictions(people[0], "crowd", iris["y_test"], submission_type="competition")
            return "accepted"
        except QuotaExceeded:
            return "refused"

    # p0 has 2 entries already (20 spread over 10 people): one more is left of today's 3.
    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(racer, range(12)))
    assert outcomes.count("accepted") == 1 and outcomes.count("refused") == 11

    owners_burst = [service.user(f"o{i}") for i in range(5)]
    service.playground(owner, "burst", iris, daily_submission_limit=100)
    with ThreadPoolExecutor(10) as pool:
        burst = sorted(
            pool.map(
                lambda i: service.submit_predictions(owners_burst[i % 5], "burst", iris["y_test"]).version,
                range(50),
            )
        )
    assert burst == list(range(1, 51))
    assert len(service.queue.jobs) == 20 + 1 + 50
