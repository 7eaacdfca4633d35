"""Parity: the ONNX graph a submission uploads computes what the original model computes.

Each framework's converter runs on a fitted model and onnxruntime runs the result on inputs the
converter never saw. Stated tolerances (absolute, on probabilities or raw outputs):

- scikit-learn: 1e-6 on probabilities and regression values (the converter picks float64 where
  float32 would differ), 1e-5 for text pipelines;
- PyTorch and Keras 3: 1e-5 on logits;
- transformers (a small BERT built from a config): 1e-4 on logits.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits, load_iris  # noqa: E402
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification  # noqa: E402

from aims_spaces.client.conversion import convert  # noqa: E402
from aims_spaces.core import preprocess  # noqa: E402
from aims_spaces.core.media import frame_for  # noqa: E402
from aims_spaces.core.onnx_model import OnnxModel  # noqa: E402
from aims_spaces.core.tabular import infer_schema  # noqa: E402
from aims_spaces.domain import Column, ColumnType, InputType, Signature, TaskType  # noqa: E402
from apps.datasets import movie_reviews  # noqa: E402


def session(onnx: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])


def hub_model(onnx: bytes, frame: pd.DataFrame, task: TaskType, classes=None, preprocessor=None) -> OnnxModel:
    """The model as the hub runs it: bound to the schema, class list and preprocessor."""
    signature = Signature(
        input_type=InputType.TABULAR,
        task_type=task,
        feature_schema=infer_schema(frame, categorical=False),
        classes=classes,
    )
    return OnnxModel(onnx, signature, preprocessor=preprocessor).load()


@pytest.fixture(scope="module")
def iris():
    data = load_iris(as_frame=True)
    y = data.target.map(dict(enumerate(data.target_names)))
    return data.data.iloc[::2], y.iloc[::2], data.data.iloc[1::2], y.iloc[1::2]


@pytest.mark.parametrize(
    "model",
    [
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        RandomForestClassifier(20, random_state=0),
    ],
    ids=["scaled-logistic", "forest"],
)
def test_sklearn_classifier_probabilities(iris, model):
    X_train, y_train, X_test, _ = iris
    model.fit(X_train, y_train)
    classes = sorted(y_train.unique())
    schema = infer_schema(X_train, categorical=False)
    converted = convert(
        model,
        Signature(
            input_type=InputType.TABULAR,
            task_type=TaskType.CLASSIFICATION,
            feature_schema=schema,
            classes=classes,
        ),
        sample=X_train,
    )
    out = hub_model(converted.onnx, X_train, TaskType.CLASSIFICATION, classes).run(X_test)
    np.testing.assert_allclose(out.probabilities, model.predict_proba(X_test), atol=1e-6)
    assert [classes[i] for i in out.indices] == list(model.predict(X_test))


def test_sklearn_regressor_values():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = GradientBoostingRegressor(n_estimators=50, random_state=0).fit(X[:300], y[:300])
    schema = infer_schema(X, categorical=False)
    converted = convert(
        model,
        Signature(input_type=InputType.TABULAR, task_type=TaskType.REGRESSION, feature_schema=schema),
        sample=X[:300],
    )
    out = hub_model(converted.onnx, X, TaskType.REGRESSION).run(X[300:])
    np.testing.assert_allclose(out.values, model.predict(X[300:]), atol=1e-6 * float(np.abs(y).max()))


def test_sklearn_text_pipeline():
    texts, labels = movie_reviews(300, seed=3)
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(texts[:200], labels[:200])
    frame = frame_for(InputType.TEXT)(texts[:200].tolist(), "texts")
    classes = sorted(labels.unique())
    converted = convert(
        model,
        Signature(
            input_type=InputType.TEXT,
            task_type=TaskType.CLASSIFICATION,
            feature_schema=infer_schema(frame, categorical=False),
            classes=classes,
        ),
        sample=frame,
    )
    test = frame_for(InputType.TEXT)(texts[200:].tolist(), "texts")
    out = hub_model(converted.onnx, frame, TaskType.CLASSIFICATION, classes).run(test)
    np.testing.assert_allclose(out.probabilities, model.predict_proba(texts[200:]), atol=1e-5)


def test_pytorch_cnn_logits():
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 64, 10)
    ).eval()
    images = (load_digits().images * 15).astype(np.uint8)
    spec = preprocess.ImageSpec(size=(8, 8), mode="L", layout="NCHW", input="pixel_values")
    prep = preprocess.load(preprocess.document(spec))
    frame = frame_for(InputType.IMAGE)(list(images[:16]), "images")
    converted = convert(
        cnn,
        Signature(
            input_type=InputType.IMAGE,
            task_type=TaskType.CLASSIFICATION,
            feature_schema=[Column(name="image", dtype=ColumnType.IMAGE)],
            classes=list(range(10)),
        ),
        sample=frame,
        preprocessor=prep,
    )
    x = prep.feeds(frame_for(InputType.IMAGE)(list(images[100:164]), "images")["image"])["pixel_values"]
    (logits,) = session(converted.onnx).run(None, {"pixel_values": x})
    with torch.no_grad():
        np.testing.assert_allclose(logits, cnn(torch.from_numpy(x)).numpy(), atol=1e-5)


def test_keras_logits():
    X, y = load_iris(return_X_y=True, as_frame=True)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)]
    )
    converted = convert(
        model,
        Signature(
            input_type=InputType.TABULAR,
            task_type=TaskType.CLASSIFICATION,
            feature_schema=infer_schema(X, categorical=False),
            classes=[0, 1, 2],
        ),
        sample=X,
    )
    x = X.to_numpy(dtype=np.float32)
    (logits,) = session(converted.onnx).run(None, {"X": x})
    np.testing.assert_allclose(logits, model.predict(x, verbose=0), atol=1e-5)


def test_transformers_logits():
    texts, _ = movie_reviews(120, seed=4)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        list(texts), trainers.WordPieceTrainer(vocab_size=150, special_tokens=["[PAD]", "[UNK]"])
    )
    config = BertConfig(
        vocab_size=150,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=2,
    )
    torch.manual_seed(0)
    bert = BertForSequenceClassification(config).eval()
    prep = preprocess.load(preprocess.tokenizer_document(tok, max_length=16))
    frame = frame_for(InputType.TEXT)(texts[:20].tolist(), "texts")
    converted = convert(
        bert,
        Signature(
            input_type=InputType.TEXT,
            task_type=TaskType.CLASSIFICATION,
            feature_schema=infer_schema(frame, categorical=False),
            classes=["negative", "positive"],
        ),
        sample=frame,
        preprocessor=prep,
    )
    feeds = prep.feeds(texts[60:].tolist())
    sess = session(converted.onnx)
    names = [i.name for i in sess.get_inputs()]
    (logits,) = sess.run(None, {n: feeds[n] for n in names})[:1]
    with torch.no_grad():
        expected = bert(**{n: torch.from_numpy(feeds[n]) for n in names}).logits.numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)
