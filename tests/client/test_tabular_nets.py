"""Tabular playgrounds with networks beside scikit-learn: PyTorch and Keras models on numeric
columns, scored, described on the leaderboard, deployed and served over JSON, CSV upload and
the Gradio API."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import httpx  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from gradio_client import Client  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402

from aims_spaces import ModelPlayground  # noqa: E402

pytestmark = pytest.mark.hub


class Standardised(torch.nn.Module):
    """An MLP that carries its own feature scaling, so it takes the raw columns."""

    def __init__(self, X: np.ndarray, outputs: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.register_buffer("mean", torch.tensor(X.mean(0), dtype=torch.float32))
        self.register_buffer("std", torch.tensor(X.std(0), dtype=torch.float32))
        self.net = torch.nn.Sequential(
            torch.nn.Linear(X.shape[1], 16), torch.nn.ReLU(), torch.nn.Linear(16, outputs)
        )

    def forward(self, X):
        return self.net((X - self.mean) / self.std)


def fit(module: torch.nn.Module, X: np.ndarray, y: np.ndarray, loss_fn, epochs: int) -> torch.optim.Optimizer:
    torch.manual_seed(0)
    opt = torch.optim.Adam(module.parameters(), lr=0.02)
    x, t = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    for _ in range(epochs):
        opt.zero_grad()
        loss_fn(module(x), t).backward()
        opt.step()
    return opt


def csv_upload(frame) -> list:
    return [("file", ("rows.csv", frame.to_csv(index=False).encode(), "text/csv"))]


def test_classification_with_three_frameworks(users, iris, hub):
    X_train, y_train, X_test, y_test = iris["X_train"], iris["y_train"], iris["X_test"], iris["y_test"]
    pg = ModelPlayground(
        input_type="tabular", task_type="classification", name="iris-nets", client=users("tab")
    )
    pg.create(eval_data=y_test, eval_features=X_test, example_data=X_test.head(3), y_train=y_train)
    classes = pg.info.classes
    codes_train = np.array([classes.index(v) for v in y_train])

    sk = LogisticRegression(max_iter=1000).fit(X_train, y_train)
    s1 = pg.submit_model(model=sk, prediction_submission=sk.predict(X_test)).wait()

    net = Standardised(X_train.to_numpy(), len(classes))
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = fit(net, X_train.to_numpy(), codes_train, loss_fn, epochs=300)
    with torch.no_grad():
        logits = net(torch.tensor(X_test.to_numpy(), dtype=torch.float32)).numpy()
    predicted = [classes[i] for i in logits.argmax(1)]
    s2 = pg.submit_model(model=net, prediction_submission=predicted, optimizer=opt, loss=loss_fn).wait()

    keras.utils.set_random_seed(0)
    km = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Normalization(),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3),
        ]
    )
    km.layers[0].adapt(X_train.to_numpy())
    km.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    km.fit(X_train.to_numpy(), codes_train, epochs=60, verbose=0)
    k_logits = km.predict(X_test.to_numpy(), verbose=0)
    s3 = pg.submit_model(model=km, prediction_submission=[classes[i] for i in k_logits.argmax(1)]).wait()

    assert [s.info.framework for s in (s1, s2, s3)] == ["sklearn", "pytorch", "keras"]
    for sub in (s1, s2, s3):
        assert sub.info.verified and sub.info.mismatch_fraction == 0.0
    assert s2.scores["all"]["accuracy"] == pytest.approx(np.mean(np.array(predicted) == y_test.to_numpy()))
    board = pg.get_leaderboard().set_index("version")
    assert board.loc[s2.version, "arch.layers"] == "Linear×2, ReLU×1"
    assert board.loc[s2.version, "arch.optimizer"] == "Adam"
    assert board.loc[s2.version, "arch.loss"] == "CrossEntropyLoss"
    assert board.loc[s2.version, "arch.parameters"] == sum(p.numel() for p in net.parameters())
    assert board.loc[s3.version, "arch.parameters"] == km.count_params()

    # Parity with the original network on the eval rows (stated tolerance 1e-5 on probabilities).
    local = pg.instantiate_model(s2.version, prefer="onnx")
    expected = torch.softmax(torch.tensor(logits), 1).numpy()
    np.testing.assert_allclose(local.predict_proba(X_test), expected, atol=1e-5)

    pg.deploy_model(s2.version)
    out = pg.predict(X_test.head(10))
    assert list(out["prediction"]) == predicted[:10]
    url = f"{hub.serve_url}/iris-nets/predict"
    r = httpx.post(url, json={"rows": X_test.head(10).to_dict("records")})
    assert r.status_code == 200 and r.json()["predictions"] == predicted[:10]
    assert r.json()["probabilities"][0] == pytest.approx(
        dict(zip(classes, expected[0], strict=True)), abs=1e-5
    )
    r = httpx.post(url, files=csv_upload(X_test.head(10)))
    assert r.status_code == 200 and r.json()["predictions"] == predicted[:10]

    label = Client(f"{hub.url}/p/iris-nets/", verbose=False).predict(
        *[float(v) for v in X_test.iloc[0]], api_name="/predict"
    )
    assert label["label"] == predicted[0]


def test_regression_network_served_from_csv(users, diabetes, hub):
    X_train, y_train, X_test, y_test = (diabetes[k] for k in ("X_train", "y_train", "X_test", "y_test"))
    pg = ModelPlayground(
        input_type="tabular", task_type="regression", name="diabetes-nets", client=users("tab")
    )
    pg.create(eval_data=y_test, eval_features=X_test, y_train=y_train)
    ridge = Ridge().fit(X_train, y_train)
    s1 = pg.submit_model(model=ridge, prediction_submission=ridge.predict(X_test)).wait()

    net = Standardised(X_train.to_numpy(), 1)
    mu, sd = float(y_train.mean()), float(y_train.std())
    target = ((y_train.to_numpy() - mu) / sd).astype(np.float32)
    fit(net, X_train.to_numpy(), target, lambda out, t: torch.nn.functional.mse_loss(out.squeeze(1), t), 60)
    with torch.no_grad():  # fold the target scaling into the last layer: the module predicts raw values
        net.net[-1].weight *= sd
        net.net[-1].bias.mul_(sd).add_(mu)
        expected = net(torch.tensor(X_test.to_numpy(), dtype=torch.float32)).numpy().reshape(-1)
    s2 = pg.submit_model(model=net, prediction_submission=expected).wait()
    assert s1.info.framework == "sklearn" and s2.info.framework == "pytorch"
    assert s2.info.verified and s2.scores["all"]["r2"] > 0.2

    pg.deploy_model(s2.version)
    url = f"{hub.serve_url}/diabetes-nets/predict"
    r = httpx.post(url, files=csv_upload(X_test.head(50)))
    assert r.status_code == 200
    np.testing.assert_allclose(r.json()["predictions"], expected[:50], rtol=1e-4, atol=1e-3)

    # Bad CSV uploads are refused with the reason, and the deployment keeps serving.
    bad = X_test.head(3).drop(columns=["bmi"])
    r = httpx.post(url, files=csv_upload(bad))
    assert r.status_code == 422 and "missing column(s) ['bmi']" in r.json()["error"]["message"]
    text = X_test.head(3).astype(object)
    text.iloc[1, 2] = "tall"
    r = httpx.post(url, files=csv_upload(text))
    assert (
        r.status_code == 422
        and "column 'bmi': expected a number, got str 'tall'" in r.json()["error"]["message"]
    )
    r = httpx.post(url, files=[("file", ("rows.csv", b"", "text/csv"))])
    assert r.status_code == 422 and "CSV file" in r.json()["error"]["message"]
    r = httpx.post(url, files=csv_upload(X_test.head(2)) * 2)
    assert r.status_code == 422 and "one CSV file" in r.json()["error"]["message"]
    assert httpx.post(url, files=csv_upload(X_test.head(1))).status_code == 200
