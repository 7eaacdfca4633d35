"""Access changes reach the model server at once, even while its replicas are busy loading a
model that never finishes warming up: a removed member is refused within seconds, and the stuck
model fails its deployment on its own time limit without holding anything else up."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from sklearn.linear_model import LogisticRegression

from aims_spaces import InvalidModel, ModelPlayground
from aims_spaces.client.conversion import convert
from tests.evaluators.runaway_models import loop_for_ever

pytestmark = pytest.mark.hub


def test_a_removed_member_is_refused_while_a_replica_is_busy_loading(users, iris, hub):
    owner, member, other = users("ada"), users("bert-member"), users("cyd")
    secret = ModelPlayground(
        input_type="tabular", task_type="classification", name="access-secret", private=True, client=owner
    )
    secret.create(eval_data=iris["y_test"], eval_features=iris["X_test"], example_data=iris["X_test"].head(3))
    lr = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    secret.deploy_model(secret.submit_model(model=lr).wait().version)
    secret.add_member("bert-member")
    rows = {"rows": iris["X_test"].head(2).to_dict("records")}

    def as_member() -> int:
        headers = {"Authorization": f"Bearer {member.token}"}
        return httpx.post(
            f"{hub.serve_url}/access-secret/predict", json=rows, headers=headers, timeout=30
        ).status_code

    deadline = time.monotonic() + 10
    while as_member() != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert as_member() == 200

    # Another playground deploys a model whose warm-up never ends: every replica is busy loading.
    stuck = ModelPlayground(
        input_type="tabular", task_type="classification", name="access-stuck", client=other
    )
    stuck.create(eval_data=iris["y_test"], eval_features=iris["X_test"], example_data=iris["X_test"].head(3))
    onnx = convert(lr, stuck.info.signature).onnx
    version = stuck.submit_model(model=loop_for_ever(onnx)).version
    outcome: dict[str, BaseException | None] = {}

    def deploy() -> None:
        try:
            stuck.deploy_model(version)
            outcome["error"] = None
        except BaseException as e:  # the outcome is asserted below
            outcome["error"] = e

    worker = threading.Thread(target=deploy)
    worker.start()
    time.sleep(3)  # the replicas are loading it now
    assert worker.is_alive()

    # Within 8 s of the removal: a frozen route update would wait for the stuck load, which times
    # out 15 s after the deploy began (at least 12 s from here), so 8 s tells the two apart with
    # room for a loaded machine (a few seconds of it go to remove_member's own round trip).
    removed_at = time.monotonic()
    secret.remove_member("bert-member")
    while as_member() != 404:
        assert time.monotonic() - removed_at < 8, "the removal did not reach the model server in 8 s"
        time.sleep(0.1)
    refused_after = time.monotonic() - removed_at
    assert worker.is_alive(), "the stuck model was still loading when the member was refused"
    assert (
        httpx.post(
            f"{hub.serve_url}/access-secret/predict",
            json=rows,
            headers={"Authorization": f"Bearer {owner.token}"},
            timeout=30,
        ).status_code
        == 200
    )

    worker.join(timeout=120)
    assert isinstance(outcome.get("error"), InvalidModel), outcome
    assert "timed out loading after" in str(outcome["error"])
    assert refused_after < 8
