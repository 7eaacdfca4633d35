"""Keras 3 models (on the PyTorch backend) submitted to an image playground."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from aims_spaces import ModelPlayground  # noqa: E402
from aims_spaces.core.preprocess import ImageSpec  # noqa: E402

pytestmark = pytest.mark.hub
SPEC = ImageSpec(size=(8, 8), mode="L", layout="NHWC", input="image")


def build() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_keras_model_end_to_end(users):
    assert keras.backend.backend() == "torch"
    d = load_digits()
    images = (d.images * 15).astype(np.uint8)
    X_train, y_train, X_test, y_test = images[:1000], d.target[:1000], images[1000:1200], d.target[1000:1200]
    pg = ModelPlayground(
        input_type="image", task_type="classification", name="digits-keras", client=users("kim")
    )
    pg.create(eval_data=y_test, eval_features=list(X_test), y_train=y_train)

    keras.utils.set_random_seed(0)
    model = build()
    model.fit(X_train[..., None] / 255.0, y_train, epochs=15, batch_size=64, verbose=0)
    expected = model.predict(X_test[..., None] / 255.0, verbose=0)
    sub = pg.submit_model(model=model, preprocessor=SPEC, prediction_submission=expected.argmax(1)).wait()
    assert sub.info.framework == "keras" and sub.info.verified and sub.info.mismatch_fraction == 0.0
    assert sub.scores["all"]["accuracy"] == pytest.approx(np.mean(expected.argmax(1) == y_test))
    meta = sub.info.metadata
    assert meta["layer_types"] == {"Conv2D": 1, "Dense": 1, "GlobalAveragePooling2D": 1}
    assert meta["total_parameters"] == model.count_params()
    assert meta["optimizer"]["type"] == "Adam" and meta["optimizer"]["learning_rate"] == pytest.approx(0.01)
    assert meta["loss"]["type"] == "SparseCategoricalCrossentropy" and meta["loss"]["from_logits"] is True
    assert {layer["type"]: layer["output_shape"] for layer in meta["layers"]}["Conv2D"] == ["batch", 6, 6, 8]

    # Parity: the hub's ONNX model against Keras on the same images (stated tolerance 1e-5).
    local = pg.instantiate_model(sub.version, prefer="onnx")
    probs = np.exp(expected - expected.max(1, keepdims=True))
    np.testing.assert_allclose(
        local.predict_proba(list(X_test[:20])), (probs / probs.sum(1, keepdims=True))[:20], atol=1e-5
    )
    fresh = pg.instantiate_model(sub.version, into=build())
    np.testing.assert_allclose(
        fresh.predict(X_test[:5, ..., None] / 255.0, verbose=0), expected[:5], atol=1e-6
    )
