"""Rules that keep a hub safe to open to a class, on the service layer (no Ray, no web server):
late competition entries, a frozen private standing, rounded scores, private files until the
close, per-account limits, and text and numbers that cannot reach the database."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from onnx import TensorProto, helper
from sqlalchemy import update

from aims_spaces.domain import PlaygroundSpec, SubmissionMeta
from aims_spaces.errors import (
    CompetitionClosed,
    InvalidModel,
    InvalidName,
    InvalidSpec,
    LimitReached,
    PayloadTooLarge,
    PermissionDenied,
    PlaygroundNotFound,
)
from aims_spaces.hub.registry import PlaygroundRow, SubmissionRow, utcnow
from aims_spaces.hub.submissions import SubmissionUpload


def test_the_private_standing_is_frozen_at_the_close(service, diabetes):
    owner, ann = service.user("owner"), service.user("ann")
    service.playground(owner, "frozen", diabetes)
    y = diabetes["y_test"].to_numpy()
    early = service.submit_predictions(ann, "frozen", y + 30.0, submission_type="competition")
    service.hub.playgrounds.update_competition(owner, "frozen", close=True)
    with pytest.raises(CompetitionClosed):
        service.submit_predictions(ann, "frozen", y, submission_type="competition")
    with pytest.raises(CompetitionClosed, match="can no longer change"):
        service.hub.playgrounds.update_competition(owner, "frozen", clear_deadline=True)
    # Even a row written after the close (say, by a hub whose clock ran behind) is not ranked.
    late = service.submit_predictions(owner, "frozen", y, submission_type="experiment")
    with service.hub.registry.session() as s:
        s.execute(
            update(SubmissionRow)
            .where(SubmissionRow.version == late.version)
            .values(submission_type="competition", created_at=utcnow() + timedelta(seconds=1))
        )
    board = service.hub.leaderboards.get(ann, "frozen", "competition")
    assert [row.version for row in board.rows] == [early.version]


def test_participants_see_the_ranking_metric_rounded_while_the_competition_is_open(service, diabetes):
    owner, ann = service.user("owner"), service.user("ann")
    service.playground(owner, "rounded", diabetes)
    y = diabetes["y_test"].to_numpy()
    sub = service.submit_predictions(ann, "rounded", y + np.linspace(0, 33.3, len(y)))
    seen = service.hub.submissions.get(ann, "rounded", sub.version)
    full = service.hub.submissions.get(owner, "rounded", sub.version)
    assert seen.scores == {"public": {"rmse": float(f"{full.scores['public']['rmse']:.4g}")}}
    assert seen.intervals == {} and full.intervals  # the owner sees every metric and interval
    assert seen.scores["public"]["rmse"] != full.scores["public"]["rmse"]
    assert {"mse", "mae", "r2"} <= set(full.scores["public"])
    row = service.hub.leaderboards.get(ann, "rounded").rows[0]
    assert row.scores == seen.scores["public"] and row.interval is None
    service.hub.playgrounds.update_competition(owner, "rounded", close=True)
    after = service.hub.submissions.get(ann, "rounded", sub.version)
    assert after.scores["public"] == full.scores["public"] and after.intervals == full.intervals


def test_files_are_private_to_their_submitter_until_the_close(service, iris):
    from sklearn.linear_model import LogisticRegression

    from aims_spaces.client.conversion import convert

    owner, ann, bob = service.user("owner"), service.user("ann"), service.user("bob")
    info = service.playground(owner, "files", iris)
    model = convert(LogisticRegression(max_iter=500).fit(iris["X_train"], iris["y_train"]), info.signature)
    sub = service.hub.submissions.submit(
        ann, "files", SubmissionUpload(meta=SubmissionMeta(), model=model.onnx)
    )
    assert service.hub.submissions.artifact(ann, "files", sub.version, "model") == model.onnx
    assert service.hub.submissions.artifact(owner, "files", sub.version, "model") == model.onnx
    with pytest.raises(PermissionDenied, match="private to its submitter and the owner until"):
        service.hub.submissions.artifact(bob, "files", sub.version, "model")
    # Who scored it, on which machine and process, is for the owner only.
    assert set(service.hub.submissions.get(bob, "files", sub.version).evaluated_by) <= {"seconds"}
    assert "pid" in service.hub.submissions.get(owner, "files", sub.version).evaluated_by
    service.hub.playgrounds.update_competition(owner, "files", close=True)
    assert service.hub.submissions.artifact(bob, "files", sub.version, "model") == model.onnx


def test_an_account_holds_only_so_many_playgrounds_bytes_and_deployments(service, iris):
    settings = service.hub.settings
    settings.user_max_playgrounds = 2
    owner = service.user("owner")
    service.playground(owner, "one", iris)
    service.playground(owner, "two", iris)
    with pytest.raises(LimitReached, match="AIMS_USER_MAX_PLAYGROUNDS=2"):
        service.playground(owner, "three", iris)
    service.playground(service.admin, "admins-have-no-limit", iris)
    service.hub.playgrounds.delete(owner, "two")
    service.playground(owner, "three", iris)

    with service.hub.registry.session() as s:
        used = service.hub.playgrounds.storage_used(s, owner.user_id)
    settings.user_max_storage_mb = (used + 100) / 2**20
    with pytest.raises(LimitReached, match="storage limit"):
        service.submit_predictions(owner, "one", iris["y_test"])
    assert service.hub.submissions.list(owner, "one") == []
    settings.user_max_storage_mb = 4096

    from sklearn.linear_model import LogisticRegression

    from aims_spaces.client.conversion import convert

    settings.user_max_deployments = 1
    for name in ("one", "three"):
        info = service.hub.playgrounds.get(owner, name)
        onnx_bytes = convert(
            LogisticRegression(max_iter=300).fit(iris["X_train"], iris["y_train"]), info.signature
        ).onnx
        v = service.hub.submissions.submit(
            owner, name, SubmissionUpload(meta=SubmissionMeta(), model=onnx_bytes)
        )
        if name == "one":
            service.hub.deployments.deploy(owner, name, v.version)
            service.hub.deployments.deploy(owner, name, v.version)  # a swap needs no new slot
        else:
            with pytest.raises(LimitReached, match="AIMS_USER_MAX_DEPLOYMENTS=1"):
                service.hub.deployments.deploy(owner, name, v.version)


def _loop_model(nodes: int = 1, external: bool = False, domain: str = "") -> bytes:
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 4])
    chain = [
        helper.make_node(
            "Identity", ["X" if i == 0 else f"t{i}"], [f"t{i + 1}" if i < nodes - 1 else "Y"], domain=domain
        )
        for i in range(nodes)
    ]
    graph = helper.make_graph(chain, "g", [x], [y])
    if external:
        w = helper.make_tensor("W", TensorProto.FLOAT, [4], [0.0] * 4)
        w.data_location = TensorProto.EXTERNAL
        entry = w.external_data.add()
        entry.key, entry.value = "location", "../../../../etc/passwd"
        w.ClearField("float_data")
        graph.initializer.append(w)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def test_uploaded_models_are_bounded_before_onnxruntime_sees_them(service, iris):
    owner = service.user("owner")
    service.playground(owner, "bounded", iris)
    service.hub.settings.max_graph_nodes = 50

    def submit(data: bytes) -> None:
        service.hub.submissions.submit(owner, "bounded", SubmissionUpload(meta=SubmissionMeta(), model=data))

    with pytest.raises(InvalidModel, match="more than 50 nodes"):
        submit(_loop_model(nodes=60))
    with pytest.raises(InvalidModel, match="external files"):
        submit(_loop_model(external=True))
    with pytest.raises(InvalidModel, match="domain 'evil.ops'"):
        submit(_loop_model(domain="evil.ops"))
    service.hub.settings.max_model_mb = 0.001
    with pytest.raises(PayloadTooLarge, match="AIMS_MAX_MODEL_MB"):
        submit(b"x" * 2000)
    assert service.hub.submissions.list(owner, "bounded") == []


def _nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"custom_metadata": {"x": float("nan")}}, "not a finite number"),
        ({"custom_metadata": {"x": [1, float("inf")]}}, "not a finite number"),
        ({"custom_metadata": {"x": 2**70}}, "out of range"),
        ({"custom_metadata": {"k\ud800": 1}}, "lone surrogate"),
        ({"description": "bell\x07"}, "control characters"),
        ({"description": "x" * 10_001}, "longer than 10,000"),
        ({"model_type": "Forest\nTree"}, "control characters"),
        ({"metadata": {"deep": _nested(40)}}, "nested more than"),
    ],
)
def test_metadata_and_text_are_checked_before_they_are_stored(service, iris, meta, match):
    owner = service.user("owner")
    service.playground(owner, "hygiene", iris)
    with pytest.raises(InvalidSpec, match=match):
        service.submit_predictions(owner, "hygiene", iris["y_test"], **meta)
    assert service.hub.submissions.list(owner, "hygiene") == []


@pytest.mark.parametrize("name", ["iris\n", "Iris", "a/b", "x" * 65, "caf\u00e9", "a\ud800"])
def test_playground_names_are_checked_whole(service, iris, name):
    owner = service.user("owner")
    with pytest.raises(InvalidName):
        service.playground(owner, name, iris)
    with pytest.raises(PlaygroundNotFound):
        service.hub.playgrounds.get(owner, name)


@pytest.mark.parametrize("version", [0, -1, 2**31, 2**64, True])
def test_versions_out_of_range_are_refused_before_the_database(service, iris, version):
    owner = service.user("owner")
    service.playground(owner, "versions", iris)
    with pytest.raises(InvalidSpec, match="version"):
        service.hub.submissions.get(owner, "versions", version)


@pytest.mark.parametrize("limit", [0, -5, 10_001, 2**70])
def test_daily_limits_are_checked_at_creation_and_later(service, iris, limit):
    owner = service.user("owner")
    with pytest.raises(InvalidSpec, match="daily_submission_limit"):
        service.playground(owner, "limits", iris, daily_submission_limit=limit)
    service.playground(owner, "limits", iris)
    with pytest.raises(InvalidSpec, match="daily_submission_limit"):
        service.hub.playgrounds.update_competition(owner, "limits", daily_submission_limit=limit)
    with service.hub.registry.session() as s:
        assert s.query(PlaygroundRow).filter_by(name="limits").one().daily_submission_limit == 3


def test_a_description_is_checked_at_creation(service, iris):
    owner = service.user("owner")
    with pytest.raises(InvalidSpec, match="control characters"):
        service.hub.playgrounds.create(
            owner,
            PlaygroundSpec(name="desc", task_type="classification", description="hi\x1b[31m"),
            eval_labels=iris["y_test"],
            eval_features=iris["X_test"],
        )
    assert service.hub.playgrounds.list(owner) == []


def test_parallel_deploys_cannot_pass_the_deployment_limit_together(service, iris):
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.linear_model import LogisticRegression

    from aims_spaces.client.conversion import convert

    service.hub.settings.user_max_deployments = 1
    service.deployer.delay_s = 0.3  # loading takes a while, as on real replicas
    owner = service.user("owner")
    versions = {}
    for name in ("race-a", "race-b", "race-c", "race-d"):
        info = service.playground(owner, name, iris)
        onnx_bytes = convert(
            LogisticRegression(max_iter=300).fit(iris["X_train"], iris["y_train"]), info.signature
        ).onnx
        up = SubmissionUpload(meta=SubmissionMeta(), model=onnx_bytes)
        versions[name] = service.hub.submissions.submit(owner, name, up).version

    def deploy(name: str) -> str:
        try:
            service.hub.deployments.deploy(owner, name, versions[name])
            return "deployed"
        except LimitReached:
            return "refused"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(deploy, versions))
    assert sorted(outcomes) == ["deployed", "refused", "refused", "refused"]


def test_deleting_a_playground_frees_its_files_and_the_accounts_storage(service, iris):
    from sklearn.linear_model import LogisticRegression

    from aims_spaces.client.conversion import convert

    owner = service.user("owner")
    info = service.playground(owner, "short-lived", iris)
    model = convert(LogisticRegression(max_iter=300).fit(iris["X_train"], iris["y_train"]), info.signature)
    service.hub.submissions.submit(
        owner, "short-lived", SubmissionUpload(meta=SubmissionMeta(), model=model.onnx)
    )
    artifacts = service.hub.settings.home / "artifacts"
    stored = [p for p in artifacts.rglob("*") if p.is_file()]
    assert stored
    service.hub.playgrounds.delete(owner, "short-lived")
    assert [p for p in artifacts.rglob("*") if p.is_file()] == []
    with service.hub.registry.session() as s:
        assert service.hub.playgrounds.storage_used(s, owner.user_id) == 0
