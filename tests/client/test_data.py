"""Training data end to end on the session's hub: the owner uploads it from Python, a participant
downloads it (pandas and `datasets`) with a sample submission that scores as a predictions file,
and the REST endpoints answer with the hub's errors."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from aims_spaces import (
    AuthenticationRequired,
    InvalidInput,
    InvalidSpec,
    ModelPlayground,
    PayloadTooLarge,
    PermissionDenied,
    PlaygroundNotFound,
)
from aims_spaces.client.data import download_data, get_data_info, get_sample_submission, upload_data
from aims_spaces.core.tabular import frame_to_parquet
from aims_spaces.domain import SubmissionStatus

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def pg(users, iris):
    pg = ModelPlayground(
        input_type="tabular", task_type="classification", name="iris-data", client=users("dora")
    )
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"], y_train=iris["y_train"])
    return pg


def _as(pg: ModelPlayground, client) -> ModelPlayground:
    return ModelPlayground(name=pg.name, client=client)


def test_the_owner_uploads_and_a_participant_downloads(pg, users, iris):
    train = iris["X_train"].assign(species=iris["y_train"]).reset_index(drop=True)
    info = upload_data(pg, train, target="species", descriptions={"species": "the iris species"})
    assert info["rows"] == len(train) and info["target"] == "species"

    pat = _as(pg, users("pat-data"))
    described = get_data_info(pat)
    assert described is not None
    assert [(c["name"], c["description"]) for c in described["columns"]][-1] == (
        "species",
        "the iris species",
    )
    pd.testing.assert_frame_equal(download_data(pat), train, check_dtype=False)
    dataset = download_data(pat, format="datasets")
    assert dataset.num_rows == len(train) and dataset.column_names == list(train.columns)

    sample = get_sample_submission(pat)
    assert sample.shape == (len(iris["y_test"]), 1) and set(sample["prediction"]) == {"setosa"}
    scored = pat.submit_model(prediction_submission=sample["prediction"]).wait()
    assert scored.status is SubmissionStatus.SCORED

    with pytest.raises(PermissionDenied, match="owner"):
        upload_data(pat, train.head(10), target="species")
    with pytest.raises(InvalidSpec, match="format must be one of"):
        download_data(pat, format="polars")


def test_an_upload_may_be_larger_than_a_request_but_not_than_an_upload(pg, iris):
    rng = np.random.default_rng(0)
    classes = sorted(set(iris["y_test"]))

    def table(n: int) -> pd.DataFrame:  # random floats: Parquet cannot make them much smaller
        features = pd.DataFrame(rng.normal(size=(n, 4)), columns=iris["X_test"].columns)
        return features.assign(species=rng.choice(classes, n))

    big = table(60_000)
    assert len(frame_to_parquet(big)) > 1.2 * 2**20  # over AIMS_MAX_REQUEST_KB (1 MiB)
    assert upload_data(pg, big, target="species")["rows"] == len(big)
    huge = table(320_000)
    assert len(frame_to_parquet(huge)) > 8.5 * 2**20  # over the session hub's AIMS_MAX_UPLOAD_MB=8
    with pytest.raises(PayloadTooLarge, match="AIMS_MAX_UPLOAD_MB"):
        upload_data(pg, huge, target="species")
    assert get_data_info(pg)["rows"] == len(big)


def test_the_rest_endpoints_answer_with_the_hubs_errors(hub, pg, users, anonymous, iris):
    url = f"{hub.url}/api/playgrounds/{pg.name}/data"
    train = iris["X_train"].assign(species=iris["y_train"])
    files = {"data": ("train.parquet", frame_to_parquet(train), "application/vnd.apache.parquet")}
    # A visitor's upload is refused before its body is read.
    r = httpx.put(url, files=files, data={"target": "species"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationRequired"
    with pytest.raises(AuthenticationRequired):
        download_data(_as(pg, anonymous))
    owner = {"Authorization": f"Bearer {pg.client.token}"}
    r = httpx.put(url, files=files, data={"target": "species", "descriptions": "{not json"}, headers=owner)
    assert r.status_code == 422 and r.json()["error"]["code"] == "InvalidSpec"
    r = httpx.put(url, files=files, data={"target": "colour"}, headers=owner)
    assert r.status_code == 422 and "target 'colour' is not a column" in r.json()["error"]["message"]
    r = httpx.put(url, files={"data": ("x.parquet", b"PAR1 nope", "application/octet-stream")}, headers=owner)
    assert r.status_code == 422 and r.json()["error"]["code"] == "InvalidEvalData"

    r = httpx.get(f"{url}/sample-submission.csv", headers=owner)
    assert r.status_code == 200 and r.text.splitlines()[0] == "prediction"
    assert r.headers["content-disposition"] == f'attachment; filename="{pg.name}-sample-submission.csv"'
    assert httpx.delete(url, headers=owner).status_code == 204
    assert get_data_info(pg) is None
    with pytest.raises(InvalidInput, match="has no training data yet"):
        download_data(pg)
    stranger = users("stranger-data")
    with pytest.raises(PlaygroundNotFound):
        get_data_info(ModelPlayground(name="no-such-playground", client=stranger))


def test_media_training_data_goes_up_from_files_on_the_participants_machine(users, tmp_path):
    owner = users("dora")
    pg = ModelPlayground(input_type="image", task_type="classification", name="shades-data", client=owner)
    squares = [np.full((8, 8), v, dtype=np.uint8) for v in (10, 250, 20, 240)]
    pg.create(eval_data=["dark", "light", "dark", "light"], eval_features=squares)
    paths = []
    for i, v in enumerate((0, 30, 200, 255)):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((8, 8), v, dtype=np.uint8)).save(path)
        paths.append(str(path))
    train = pd.DataFrame({"image": paths, "shade": ["dark", "dark", "light", "light"]})
    info = upload_data(pg, train, target="shade")
    assert [(c["name"], c["dtype"]) for c in info["columns"]] == [("image", "binary"), ("shade", "string")]
    got = download_data(pg)
    assert got["image"].tolist() == [open(p, "rb").read() for p in paths]
    assert got["shade"].tolist() == train["shade"].tolist()
