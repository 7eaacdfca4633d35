"""The playground apps' named Gradio endpoints, called with gradio_client like any program would."""

from __future__ import annotations

import re

import httpx
import pytest
from gradio_client import Client

pytestmark = pytest.mark.hub


def test_demo_and_leaderboard_endpoints(hub, web_iris, iris):
    client = Client(f"{hub.url}/p/web-iris/", verbose=False)
    row = iris["X_test"].iloc[0]
    label = client.predict(*[float(v) for v in row], api_name="/predict")
    assert label["label"] in {"setosa", "versicolor", "virginica"}
    assert {c["label"] for c in label["confidences"]} == {"setosa", "versicolor", "virginica"}
    table, count = client.predict(False, True, api_name="/leaderboard")
    assert count.startswith(f"{len(table['data'])} scored submissions.")
    assert len(table["data"]) >= 2
    assert table["headers"][:5] == ["rank", "who", "model", "description", "Accuracy"]
    assert {"version", "serving"} <= set(table["headers"])
    first = dict(zip(table["headers"], table["data"][0], strict=True))
    assert isinstance(first["Accuracy"], float) and isinstance(first["version"], int)  # numbers stay numbers
    shown = dict(zip(table["headers"], table["metadata"]["display_value"][0], strict=True))
    assert re.fullmatch(r"\d\.\d{3}( \[\d\.\d{3}, \d\.\d{3}\])?", shown["Accuracy"])  # the hub's decimals
    comp, comp_count, notes = client.predict(False, False, ["log_loss"], api_name="/competition_leaderboard")
    assert comp["headers"][:4] == ["rank", "who", "model", "description"] and comp_count and notes


def test_bad_values_are_refused_with_a_readable_error(hub, web_iris, iris):
    client = Client(f"{hub.url}/p/web-iris/", verbose=False)
    row = [float(v) for v in iris["X_test"].iloc[0]]
    row[0] = "tall"
    with pytest.raises(Exception, match=re.escape("'sepal length (cm)' must be a number")):
        client.predict(*row, api_name="/predict")


def test_private_playground_api_needs_a_member(hub, web_secret, users, iris):
    outsider = users("otto")
    with pytest.raises(ValueError, match="Could not fetch config"):  # a 404 before Gradio: no config
        Client(
            f"{hub.url}/p/web-secret/", verbose=False, headers={"Authorization": f"Bearer {outsider.token}"}
        )
    r = httpx.post(
        f"{hub.url}/p/web-secret/gradio_api/call/predict",
        json={"data": [1, 1, 1, 1]},
        headers={"Authorization": f"Bearer {outsider.token}"},
    )
    assert r.status_code == 404
    owner = users("wendy")
    client = Client(
        f"{hub.url}/p/web-secret/", verbose=False, headers={"Authorization": f"Bearer {owner.token}"}
    )
    label = client.predict(*[float(v) for v in iris["X_test"].iloc[0]], api_name="/predict")
    assert label["label"] in {"setosa", "versicolor", "virginica"}


def test_regression_demo_answers_a_number(hub, users, diabetes):
    from sklearn.linear_model import Ridge

    from aims_spaces import ModelPlayground

    pg = ModelPlayground(
        input_type="tabular", task_type="regression", name="web-diabetes", client=users("wendy")
    )
    pg.create(
        eval_data=diabetes["y_test"],
        eval_features=diabetes["X_test"],
        example_data=diabetes["X_test"].head(3),
    )
    ridge = Ridge().fit(diabetes["X_train"], diabetes["y_train"])
    pg.deploy_model(pg.submit_model(model=ridge).wait().version)
    row = diabetes["X_test"].iloc[0]
    client = Client(f"{hub.url}/p/web-diabetes/", verbose=False)
    value = client.predict(*[float(v) for v in row], api_name="/predict")
    assert value == pytest.approx(float(ridge.predict(diabetes["X_test"].head(1))[0]), rel=1e-6)
