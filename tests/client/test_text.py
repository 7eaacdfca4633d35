"""Text playgrounds with scikit-learn text pipelines, end to end."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from gradio_client import Client
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

from aims_spaces import InvalidEvalData, ModelPlayground
from apps.datasets import movie_reviews

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def reviews():
    texts, labels = movie_reviews(400)
    return texts[:300], labels[:300], texts[300:].reset_index(drop=True), labels[300:].reset_index(drop=True)


@pytest.fixture(scope="module")
def text_pg(users, reviews):
    X_train, y_train, X_test, y_test = reviews
    pg = ModelPlayground(
        input_type="text", task_type="classification", name="reviews-sk", client=users("tess")
    )
    pg.create(
        eval_data=y_test, eval_features=X_test.tolist(), example_data=X_test.head(3).tolist(), y_train=y_train
    )
    return pg


def test_text_pipelines_are_scored_deployed_and_served(text_pg, reviews, hub):
    X_train, y_train, X_test, y_test = reviews
    info = text_pg.info
    assert [c.dtype.value for c in info.feature_schema] == ["string"]
    assert info.feature_schema[0].categories is None  # free text, not a category

    tfidf = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)
    counts = make_pipeline(CountVectorizer(), MultinomialNB()).fit(X_train, y_train)
    s1 = text_pg.submit_model(model=tfidf, prediction_submission=tfidf.predict(X_test)).wait()
    s2 = text_pg.submit_model(model=counts, prediction_submission=counts.predict(X_test)).wait()
    for sub, model in ((s1, tfidf), (s2, counts)):
        assert sub.info.verified and sub.info.mismatch_fraction == 0.0
        assert sub.scores["all"]["accuracy"] == pytest.approx(accuracy_score(y_test, model.predict(X_test)))
    board = text_pg.get_leaderboard()
    assert set(board["model_type"]) == {"LogisticRegression", "MultinomialNB"}
    assert "param.TfidfVectorizer.lowercase" in board.columns or any(
        c.startswith("param.") for c in board.columns
    )

    text_pg.deploy_model(s1.version)
    out = text_pg.predict(["A wonderful and moving film.", "Dull, tedious and the worst plot."])
    assert list(out["prediction"]) == list(
        tfidf.predict(["A wonderful and moving film.", "Dull, tedious and the worst plot."])
    )
    url = f"{hub.serve_url}/reviews-sk/predict"
    r = httpx.post(url, json={"inputs": ["Brilliant acting, loved it."]})
    assert r.status_code == 200 and r.json()["predictions"] == list(
        tfidf.predict(["Brilliant acting, loved it."])
    )
    r = httpx.post(url, json={"rows": [{"text": "An awful film."}]})
    assert r.status_code == 200
    texts = ["Brilliant acting, loved it.", "An awful, boring film."]
    r = httpx.post(url, files=[("file", (f"{i}.txt", t.encode(), "text/plain")) for i, t in enumerate(texts)])
    assert r.status_code == 200 and r.json()["predictions"] == list(tfidf.predict(texts))
    r = httpx.post(url, files=[("file", ("x.txt", b"\xff\xfe not utf-8 \xc3", "text/plain"))])
    assert r.status_code == 422 and "file 0 is not UTF-8 text" in r.json()["error"]["message"]
    r = httpx.post(url, json={"inputs": [42]})
    assert r.status_code == 422 and "expected a string" in r.json()["error"]["message"]

    local = text_pg.instantiate_model(s1.version, prefer="onnx")
    np.testing.assert_allclose(
        local.predict_proba(X_test[:5].tolist()), tfidf.predict_proba(X_test[:5]), atol=1e-5
    )

    demo = Client(f"{hub.url}/p/reviews-sk/", verbose=False)
    label = demo.predict("Superb and charming.", api_name="/predict")
    assert label["label"] == tfidf.predict(["Superb and charming."])[0]


def test_text_eval_data_must_be_strings(users):
    pg = ModelPlayground(input_type="text", task_type="classification", name="bad-text", client=users("tess"))
    with pytest.raises(InvalidEvalData, match="must hold strings"):
        pg.create(eval_data=["a", "b"], eval_features=["fine", 3.5])
