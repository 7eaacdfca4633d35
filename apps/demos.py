"""Demo playgrounds a fresh hub starts with, built offline from scikit-learn's bundled data.

Everything here goes through the public Python client, exactly as a user would write it, so it
doubles as an example to copy::

    from apps.demos import seed_demos
    seed_demos(aims_spaces.login("http://127.0.0.1:7860", token))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from aims_spaces import ModelPlayground
from aims_spaces.client import HubClient

log = logging.getLogger(__name__)


def iris_playground(client: HubClient, name: str = "iris") -> ModelPlayground:
    """Tabular classification: three iris species from four measurements."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_iris(as_frame=True)
    X = data.data
    y = data.target.map(dict(enumerate(data.target_names)))
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)

    pg = ModelPlayground(
        input_type="tabular",
        task_type="classification",
        private=False,
        name=name,
        description="Iris species from sepal and petal measurements (scikit-learn's iris data).",
        client=client,
    )
    pg.create(eval_data=y_test, eval_features=X_test, example_data=X_test.head(5), y_train=y_train)
    models = [
        ("logistic regression", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))),
        ("random forest", RandomForestClassifier(n_estimators=100, random_state=0)),
    ]
    for description, model in models:
        model.fit(X_train, y_train)
        pg.submit_model(
            model=model,
            prediction_submission=model.predict(X_test),
            submission_type="all",
            description=description,
            custom_metadata={"team": "demo"},
        ).wait()
    pg.deploy_model(1)
    return pg


def diabetes_playground(client: HubClient, name: str = "diabetes") -> ModelPlayground:
    """Tabular regression: disease progression one year after baseline."""
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    pg = ModelPlayground(
        input_type="tabular",
        task_type="regression",
        private=False,
        name=name,
        description="Diabetes progression after one year (scikit-learn's diabetes data). Ranked by RMSE.",
        client=client,
    )
    pg.create(eval_data=y_test, eval_features=X_test, example_data=X_test.head(5))
    for description, model in [
        ("ridge", Ridge(alpha=1.0)),
        ("gradient boosting", GradientBoostingRegressor(random_state=0)),
    ]:
        model.fit(X_train, y_train)
        pg.submit_model(
            model=model,
            prediction_submission=model.predict(X_test),
            submission_type="all",
            description=description,
        ).wait()
    pg.deploy_model(1)
    return pg


def reviews_playground(client: HubClient, name: str = "reviews") -> ModelPlayground:
    """Text classification: made-up film reviews, positive or negative."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    from .datasets import movie_reviews

    texts, labels = movie_reviews(500)
    X_train, y_train, X_test, y_test = texts[:350], labels[:350], texts[350:], labels[350:]
    pg = ModelPlayground(
        input_type="text",
        task_type="classification",
        private=False,
        name=name,
        description="Is a (made-up) film review positive or negative?",
        client=client,
    )
    pg.create(eval_data=y_test, eval_features=X_test, example_data=X_test.head(5), y_train=y_train)
    for description, model in [
        ("tf-idf + logistic regression", make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))),
        ("word counts + naive Bayes", make_pipeline(CountVectorizer(), MultinomialNB())),
    ]:
        model.fit(X_train, y_train)
        pg.submit_model(
            model=model,
            prediction_submission=model.predict(X_test),
            submission_type="all",
            description=description,
        ).wait()
    pg.deploy_model(1)
    return pg


def digits_playground(client: HubClient, name: str = "digits") -> ModelPlayground:
    """Image classification: scikit-learn's 8×8 handwritten digits, as PNG images."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from aims_spaces.core.preprocess import ImageSpec

    data = load_digits()
    images = (data.images * 15).astype(np.uint8)  # 0..16 -> 0..240 grey levels
    X_train, y_train = images[:1300], data.target[:1300]
    X_test, y_test = images[1300:], data.target[1300:]
    pg = ModelPlayground(
        input_type="image",
        task_type="classification",
        private=False,
        name=name,
        description="Which digit is it? 8×8 greyscale images from scikit-learn's digits data.",
        client=client,
    )
    pg.create(eval_data=y_test, eval_features=list(X_test), example_data=list(X_test[:6]), y_train=y_train)
    # The models see pixels scaled to 0..1, flattened: the same spec turns any uploaded image into that.
    pixels = ImageSpec(size=(8, 8), mode="L", layout="flat", input="X")
    flat = X_train.reshape(len(X_train), -1) / 255.0
    for description, model in [
        ("logistic regression on pixels", LogisticRegression(max_iter=2000)),
        ("random forest on pixels", RandomForestClassifier(n_estimators=40, max_depth=10, random_state=0)),
    ]:
        model.fit(flat, y_train)
        pg.submit_model(
            model=model, preprocessor=pixels, submission_type="all", description=description
        ).wait()
    pg.deploy_model(1)
    return pg


def tones_playground(client: HubClient, name: str = "tones") -> ModelPlayground:
    """Audio classification: half-second clips of a low hum or a whistle (generated)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    from aims_spaces.core.media import encode_audio
    from aims_spaces.core.preprocess import AudioSpec, document, load

    from .datasets import RATE, SECONDS, tones

    train, y_train = tones(240, 0)
    test, y_test = tones(80, 1)
    pg = ModelPlayground(
        input_type="audio",
        task_type="classification",
        private=False,
        name=name,
        description="Hum or whistle? Half-second sounds at 8 kHz; the models listen to log-mel features.",
        client=client,
    )
    pg.create(eval_data=y_test, eval_features=test, example_data=test[:4], y_train=y_train)
    # One spec says how any uploaded sound becomes the models' input: log-mel bands, flattened.
    mel = AudioSpec(
        sample_rate=RATE,
        duration_s=SECONDS,
        features="log_mel",
        n_fft=256,
        hop_length=128,
        layout="flat",
        input="X",
        dtype="float64",
    )
    X_train = load(document(mel)).feeds([encode_audio(c) for c in train])["X"]
    for description, model in [
        ("logistic regression on log-mel", LogisticRegression(max_iter=2000)),
        ("nearest neighbours on log-mel", KNeighborsClassifier(n_neighbors=5)),
    ]:
        model.fit(X_train, y_train)
        pg.submit_model(model=model, preprocessor=mel, submission_type="all", description=description).wait()
    pg.deploy_model(1)
    return pg


def motion_playground(client: HubClient, name: str = "motion") -> ModelPlayground:
    """Video classification: does the square move left or right? (8 generated 16×16 frames)"""
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    from aims_spaces.core.media import encode_video
    from aims_spaces.core.preprocess import VideoSpec, document, load

    from .datasets import moving_squares

    train, y_train = moving_squares(160, 0)
    test, y_test = moving_squares(60, 1)
    pg = ModelPlayground(
        input_type="video",
        task_type="classification",
        private=False,
        name=name,
        description="Which way does the square move? Eight 16×16 frames per clip.",
        client=client,
    )
    pg.create(eval_data=y_test, eval_features=test, example_data=test[:4], y_train=y_train)
    frames = VideoSpec(frames=8, size=(16, 16), mode="L", layout="flat", input="X")
    X_train = load(document(frames)).feeds([encode_video(v) for v in train])["X"]
    for description, model in [
        ("logistic regression on frames", LogisticRegression(max_iter=2000)),
        ("decision tree on frames", DecisionTreeClassifier(max_depth=6, random_state=0)),
    ]:
        model.fit(X_train, y_train)
        pg.submit_model(
            model=model, preprocessor=frames, submission_type="all", description=description
        ).wait()
    pg.deploy_model(1)
    return pg


DEMOS: dict[str, Callable[[HubClient], ModelPlayground]] = {
    "iris": iris_playground,
    "diabetes": diabetes_playground,
    "reviews": reviews_playground,
    "digits": digits_playground,
    "tones": tones_playground,
    "motion": motion_playground,
}


def seed_demos(
    client: HubClient,
    names: Collection[str] | None = None,
    *,
    rebuild: Collection[str] = (),
    on_ready: Callable[[str], None] | None = None,
) -> list[ModelPlayground]:
    """Create the demo playgrounds (``names``, default all) that do not exist yet. Those in
    ``rebuild`` are deleted first when they exist (left half-made by an interrupted start).
    ``on_ready(name)`` is called as each one is complete (scored and deployed)."""
    existing = {p["name"] for p in client.request("GET", "/api/playgrounds")}
    made = []
    for name, build in DEMOS.items():
        if names is not None and name not in names:
            continue
        if name in existing:
            if name not in rebuild:
                continue
            ModelPlayground(name=name, client=client).delete()
            log.info("demo playground %r was left half-made: building it again", name)
        made.append(build(client))
        log.info("demo playground %r ready", name)
        if on_ready is not None:
            on_ready(name)
    return made


def seed_demos_at(
    url: str,
    token: str | None,
    names: Collection[str] | None = None,
    *,
    rebuild: Collection[str] = (),
    on_ready: Callable[[str], None] | None = None,
) -> list[ModelPlayground]:
    """:func:`seed_demos` as the admin whose ``token`` is given, on the hub at ``url``."""
    client = HubClient(url, token=token)
    try:
        return seed_demos(client, names, rebuild=rebuild, on_ready=on_ready)
    finally:
        client.close()
