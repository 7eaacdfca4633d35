"""The rules of a class against the real hub (REST, Ray evaluators): invitation links and their
use count, a co-owner who may do all but delete, and scoring again after the labels change."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from aims_spaces import ModelPlayground, PermissionDenied
from aims_spaces.client.http import HubClient

pytestmark = pytest.mark.hub


def test_an_invitation_signs_up_its_uses_and_then_no_more(hub, users, iris):
    teacher = ModelPlayground(
        "tabular", "classification", private=True, name="rules-class", client=users("ines")
    )
    teacher.create(eval_data=iris["y_test"], eval_features=iris["X_test"], y_train=iris["y_train"])
    link = teacher.create_invitation(max_uses=2, expires_in_hours=1)
    code = link.path.removeprefix("/join/")
    for student in ("ivo", "ida"):
        r = httpx.post(
            f"{hub.url}/api/signup",
            json={"username": student, "password": f"{student}-password", "code": code},
        )
        assert r.status_code == 201, r.text
        me = ModelPlayground(name="rules-class", client=HubClient(hub.url, token=r.json()["token"]))
        assert me.get_info().name == "rules-class"  # a member of the private playground
    r = httpx.post(
        f"{hub.url}/api/signup", json={"username": "ike", "password": "ike-password", "code": code}
    )
    assert r.status_code == 404 and "not valid" in r.json()["error"]["message"]
    assert (
        httpx.post(f"{hub.url}/api/login", json={"username": "ike", "password": "ike-password"}).status_code
        == 401
    )
    assert [i.uses for i in teacher.list_invitations()] == [2]
    # Without a code, sign-up is closed on this hub.
    r = httpx.post(f"{hub.url}/api/signup", json={"username": "walk", "password": "walk-password"})
    assert r.status_code == 403 and "no open sign-up" in r.json()["error"]["message"]
    teacher.revoke_invitation(link.id)
    assert teacher.list_invitations() == []


def test_a_co_owner_manages_but_cannot_delete_and_new_labels_score_again(users, iris):
    owner = users("ola")
    pg = ModelPlayground("tabular", "classification", name="rules-fix", client=owner)
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"], y_train=iris["y_train"])
    users("tao")
    pg.add_member("tao", role="co-owner")
    assistant = ModelPlayground(name="rules-fix", client=users("tao"))
    assert assistant.get_info().co_owners == ["tao"]
    assistant.update(pages={"rules": "Be kind."})
    assistant.update_competition(daily_submission_limit=9)
    with pytest.raises(PermissionDenied, match="only the owner of"):
        assistant.delete()
    student = ModelPlayground(name="rules-fix", client=users("uli"))
    with pytest.raises(PermissionDenied):
        student.update(description="mine")
    with pytest.raises(PermissionDenied):
        student.revoke_invitation(1)

    y = iris["y_test"].to_numpy()
    sub = student.submit_model(prediction_submission=y).wait()
    assert pg.get_submission(sub.version).scores["all"]["accuracy"] == 1.0
    fixed = y.copy()
    fixed[:9] = np.where(y[:9] == "setosa", "versicolor", "setosa")
    info = assistant.replace_eval_data(eval_labels=fixed)  # a co-owner fixes the labels
    assert info.data_changes[-1]["by"] == "tao"
    expected = float(np.mean(fixed == y))
    for _ in range(120):  # the Ray evaluators score it again
        board = pg.get_leaderboard_data()
        if board.rescoring == 0 and board.rows[0].scores["accuracy"] == pytest.approx(expected):
            break
        time.sleep(0.5)
    assert board.rows[0].scores["accuracy"] == pytest.approx(expected) and board.data_changed_at is not None
