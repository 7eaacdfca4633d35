"""Image playgrounds: scikit-learn on pixels and a PyTorch CNN, with image preprocessors."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from aims_spaces import InvalidEvalData, InvalidModel, InvalidSpec, ModelPlayground
from aims_spaces.core.preprocess import ImageSpec
from tests.conftest import artifact_files

pytestmark = pytest.mark.hub

FLAT = ImageSpec(size=(8, 8), mode="L", layout="flat", input="X")
GRID = ImageSpec(size=(8, 8), mode="L", layout="NCHW", input="pixel_values")


class SmallCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(2)
        self.head = torch.nn.Linear(32, 10)

    def forward(self, pixel_values):
        x = torch.relu(self.conv(pixel_values))
        return self.head(self.pool(x).flatten(1))


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    images = (d.images * 15).astype(np.uint8)  # 0..16 -> 0..240
    return images[:1200], d.target[:1200], images[1200:1500], d.target[1200:1500]


@pytest.fixture(scope="module")
def digits_pg(users, digits):
    X_train, y_train, X_test, y_test = digits
    pg = ModelPlayground(
        input_type="image", task_type="classification", name="digits-test", client=users("ivy")
    )
    pg.create(eval_data=y_test, eval_features=list(X_test), example_data=list(X_test[:4]), y_train=y_train)
    return pg


def test_image_models_scored_deployed_and_served(digits_pg, digits, hub):
    X_train, y_train, X_test, y_test = digits
    info = digits_pg.info
    assert [c.dtype.value for c in info.feature_schema] == ["image"]

    lr = LogisticRegression(max_iter=2000).fit(X_train.reshape(len(X_train), -1) / 255.0, y_train)
    s1 = digits_pg.submit_model(
        model=lr, preprocessor=FLAT, prediction_submission=lr.predict(X_test.reshape(len(X_test), -1) / 255.0)
    ).wait()
    assert s1.info.verified and s1.info.mismatch_fraction == 0.0
    assert s1.scores["all"]["accuracy"] > 0.85

    torch.manual_seed(0)
    cnn = SmallCNN()
    x = torch.tensor(X_train[:, None] / 255.0, dtype=torch.float32)
    y = torch.tensor(y_train)
    opt = torch.optim.Adam(cnn.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(cnn(x), y)
        loss.backward()
        opt.step()
    s2 = digits_pg.submit_model(model=cnn, preprocessor=GRID, optimizer=opt).wait()
    meta = s2.info.metadata
    assert meta["layer_types"] == {"AdaptiveAvgPool2d": 1, "Conv2d": 1, "Linear": 1}
    assert {layer["name"]: layer["output_shape"] for layer in meta["layers"]}["conv"] == ["batch", 8, 8, 8]
    board = digits_pg.get_leaderboard().set_index("version")
    assert board.loc[s2.version, "arch.layers"] == "AdaptiveAvgPool2d×1, Conv2d×1, Linear×1"
    assert board.loc[s2.version, "arch.optimizer"] == "Adam"
    assert board.loc[s2.version, "arch.parameters"] == sum(p.numel() for p in cnn.parameters())
    with torch.no_grad():
        cnn_pred = cnn(torch.tensor(X_test[:, None] / 255.0, dtype=torch.float32)).argmax(1).numpy()
    assert s2.scores["all"]["accuracy"] == pytest.approx(np.mean(cnn_pred == y_test))

    digits_pg.deploy_model(s2.version)
    url = f"{hub.serve_url}/digits-test/predict"
    b64 = [base64.b64encode(png(img)).decode() for img in X_test[:5]]
    r = httpx.post(url, json={"inputs": b64})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == cnn_pred[:5].tolist()
    files = [("file", (f"{i}.png", png(img), "image/png")) for i, img in enumerate(X_test[:3])]
    r = httpx.post(url, files=files)
    assert r.status_code == 200 and r.json()["predictions"] == cnn_pred[:3].tolist()
    assert list(digits_pg.predict(list(X_test[:3]))["prediction"]) == cnn_pred[:3].tolist()

    demo = Client(f"{hub.url}/p/digits-test/", verbose=False)
    path = hub.home.parent / "digit.png"
    path.write_bytes(png(X_test[0]))
    label = demo.predict(handle_file(str(path)), api_name="/predict")
    assert int(label["label"]) == int(cnn_pred[0])


def test_bad_image_input_is_refused_clearly(digits_pg, hub):
    url = f"{hub.serve_url}/digits-test/predict"
    r = httpx.post(url, json={"inputs": [base64.b64encode(b"\x89PNG broken").decode()]})
    assert r.status_code == 422 and "not an image Pillow can read" in r.json()["error"]["message"]
    r = httpx.post(url, json={"inputs": ["a seven, surely"]})
    assert r.status_code == 422 and "not valid base64" in r.json()["error"]["message"]
    r = httpx.post(url, files=[("file", ("x.png", b"not an image", "image/png"))])
    assert r.status_code == 422 and "row 0" in r.json()["error"]["message"]

    before = digits_pg.get_info().n_submissions
    with pytest.raises(InvalidSpec, match="colour"):
        digits_pg.submit_model(
            model=SmallCNN(), preprocessor=b'{"spec": {"kind": "image", "size": [8, 8], "colour": "blue"}}'
        )
    # An exported 8×8 model with a spec that makes 16×16 inputs is refused by the hub.
    from aims_spaces.client.conversion import convert
    from aims_spaces.core.preprocess import document, load

    info = digits_pg.get_info()
    onnx = convert(
        SmallCNN(),
        info.signature,
        sample=digits_pg.get_eval_features(),
        preprocessor=load(document(GRID)),
    ).onnx
    bigger = ImageSpec(size=(16, 16), mode="L", layout="NCHW", input="pixel_values")
    with pytest.raises(InvalidModel, match=r"has shape \['batch', 1, 8, 8\] but the preprocessor makes"):
        digits_pg.submit_model(model=onnx, preprocessor=bigger)
    # The hub checks the document itself too, whatever client sent it; nothing is stored.
    stored = artifact_files(hub.home)
    with pytest.raises(InvalidSpec, match="colour"):
        digits_pg.client.request(
            "POST",
            "/api/playgrounds/digits-test/submissions",
            data={"meta": "{}"},
            files=[
                ("model", ("model.onnx", onnx, "application/octet-stream")),
                (
                    "preprocessor",
                    ("p.json", b'{"spec": {"kind": "image", "size": [8, 8], "colour": "L"}}', "x"),
                ),
            ],
        )
    assert artifact_files(hub.home) == stored
    assert digits_pg.get_info().n_submissions == before


def test_image_eval_data_must_be_images(users):
    pg = ModelPlayground(
        input_type="image", task_type="classification", name="bad-images", client=users("ivy")
    )
    with pytest.raises(InvalidEvalData, match="not an image"):
        pg.create(eval_data=[0, 1], eval_features=[b"\x00\x01\x02", b"GIF89a"])
