"""Training data an owner hands out: who may upload and download it, what it must look like,
what it costs the owner's storage, and that replacing it leaves nothing half-done."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sqlalchemy import select

from aims_spaces.domain import PlaygroundSpec, SubmissionStatus
from aims_spaces.errors import (
    AuthenticationRequired,
    InvalidEvalData,
    InvalidInput,
    InvalidSpec,
    LimitReached,
    NotFound,
    PermissionDenied,
    PlaygroundNotFound,
)
from aims_spaces.hub import Hub, Settings
from aims_spaces.hub.registry import PlaygroundRow
from aims_spaces.hub.training_data import TrainingData


@pytest.fixture
def database_url() -> None:
    """These tests are about files (tables, media, archives, their limits); the registry rows
    they touch are the same as the playgrounds' and run on PostgreSQL in the other modules, so
    they run on SQLite only and keep the suite inside its time budget."""
    return None


def training_data(service, **limits) -> TrainingData:
    hub = service.hub
    settings = hub.settings.model_copy(update=limits) if limits else hub.settings
    return TrainingData(hub.registry, hub.playgrounds, hub.evaldata, settings)


def iris_train(iris) -> pd.DataFrame:
    return iris["X_train"].assign(species=iris["y_train"]).reset_index(drop=True)


def row(hub: Hub, name: str) -> tuple[str, int]:
    with hub.registry.session() as s:
        pg = s.scalar(select(PlaygroundRow).where(PlaygroundRow.name == name))
        return pg.eval_data_id, pg.data_bytes


def folder_names(hub: Hub, name: str) -> set[str]:
    """What the playground's eval-data id holds, its current train file as ``train-*``."""
    repo = hub.evaldata
    names = {p.rsplit("/", 1)[-1] for p in repo.fs.ls(f"{repo.root}/{row(hub, name)[0]}", detail=False)}
    return {"train-*" if n.startswith("train-") else n for n in names}


WITH_TRAINING = {"manifest.json", "labels.parquet", "features.parquet", "train-*", "train.json"}


def png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_the_owner_uploads_and_participants_download(service, iris):
    owner, pat = service.user("owner"), service.user("pat")
    service.playground(owner, "iris", iris)
    data = training_data(service)
    assert data.info(pat, "iris") is None
    with pytest.raises(InvalidInput, match="playground 'iris' has no training data yet"):
        data.download(pat, "iris")

    train = iris_train(iris)
    described = {"species": "the iris species\n(setosa, versicolor or virginica)", "sepal length (cm)": "cm"}
    info = data.upload(owner, "iris", train, "species", described)
    assert info.rows == len(train) and info.target == "species"
    assert [c.name for c in info.columns] == list(train.columns)
    assert {c.name: c.dtype for c in info.columns}["species"] == "string"
    assert {c.name: c.description for c in info.columns if c.description} == described
    assert info.size_bytes > 0

    # Anyone who may read a public playground sees and downloads it.
    assert data.info(pat, "iris") == info
    got = data.download(pat, "iris")
    pd.testing.assert_frame_equal(got, train, check_dtype=False)
    assert got["species"].tolist() == train["species"].tolist()

    # Uploading again replaces it whole, descriptions included.
    smaller = train.head(30)
    again = data.upload(owner, "iris", smaller, "species")
    assert again.rows == 30 and all(c.description == "" for c in again.columns)
    assert len(data.download(pat, "iris")) == 30

    data.delete(owner, "iris")
    assert data.info(pat, "iris") is None
    with pytest.raises(InvalidInput, match="no training data yet"):
        data.download(owner, "iris")


def test_features_alone_are_training_data_too(service, iris):
    owner = service.user("owner")
    service.playground(owner, "unlabelled", iris)
    data = training_data(service)
    info = data.upload(owner, "unlabelled", iris["X_train"].iloc[:, ::-1])  # any column order
    assert info.target is None
    assert list(data.download(owner, "unlabelled").columns) == list(iris["X_test"].columns)


def test_who_may_see_upload_and_delete(service, iris):
    owner, pat, stranger = service.user("owner"), service.user("pat"), service.user("stranger")
    service.playground(owner, "secret", iris, private=True)
    service.hub.playgrounds.add_member(owner, "secret", "pat")
    data = training_data(service)
    train = iris_train(iris)
    data.upload(owner, "secret", train, "species")

    # A non-member of a private playground learns nothing, not even that it exists.
    for call in (
        lambda: data.info(stranger, "secret"),
        lambda: data.download(stranger, "secret"),
        lambda: data.sample_submission(stranger, "secret"),
        lambda: data.upload(stranger, "secret", train, "species"),
        lambda: data.delete(stranger, "secret"),
    ):
        with pytest.raises(PlaygroundNotFound):
            call()
    with pytest.raises(PlaygroundNotFound):
        data.download(None, "secret")
    # A member downloads it but may not change it.
    assert len(data.download(pat, "secret")) == len(train)
    with pytest.raises(PermissionDenied, match="owner"):
        data.upload(pat, "secret", train.head(5), "species")
    with pytest.raises(PermissionDenied):
        data.delete(pat, "secret")
    assert data.info(pat, "secret").rows == len(train)
    assert data.can_upload(owner, "secret") and data.can_upload(service.admin, "secret")
    assert not any(data.can_upload(who, "secret") for who in (pat, stranger, None))

    # Visitors of a public playground read its boards, not its data.
    service.playground(owner, "open", iris)
    with pytest.raises(AuthenticationRequired):
        data.download(None, "open")
    with pytest.raises(AuthenticationRequired):
        data.upload(None, "open", train, "species")


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda t: (t, "colour", None), InvalidSpec, "target 'colour' is not a column"),
        (lambda t: (t, "petal width (cm)", None), InvalidSpec, "one of the playground's feature columns"),
        (lambda t: (t, 3, None), InvalidSpec, "target must be text"),
        (lambda t: (t, "species", {"colour": "x"}), InvalidSpec, "names 'colour', which is not a column"),
        (lambda t: (t, "species", {"species": "x" * 1001}), InvalidSpec, "longer than 1,000 characters"),
        (lambda t: (t, "species", {"species": "a\x1b[31mb"}), InvalidSpec, "control characters"),
        (lambda t: (t, "species", {"species": 3}), InvalidSpec, "must be text"),
        (lambda t: (t, "species", ["species"]), InvalidSpec, "descriptions must map column names"),
        (
            lambda t: (t, "species", {c: "x" for c in [*t.columns, *"abcde"]}),
            InvalidSpec,
            "descriptions has 10 entries but the training data has only 5 columns",
        ),
        (lambda t: (t.drop(columns="sepal width (cm)"), "species", None), InvalidEvalData, "missing column"),
        (lambda t: (t.assign(extra=1.0), "species", None), InvalidEvalData, "unexpected column"),
        (
            lambda t: (t.assign(**{"sepal width (cm)": "wide"}), "species", None),
            InvalidEvalData,
            "holds strings but the eval features' column holds numbers",
        ),
        (
            lambda t: (t.assign(species="tulip"), "species", None),
            InvalidEvalData,
            r"not classes of this playground, e.g. \['tulip'\]",
        ),
        (lambda t: (t.assign(species=None), "species", None), InvalidEvalData, "missing value"),
        (lambda t: (t.head(0), "species", None), InvalidEvalData, "has no rows"),
        (lambda t: (t[["species"]], "species", None), InvalidEvalData, "has no feature columns"),
        (lambda t: (t.to_numpy(), "species", None), InvalidEvalData, "must be a table"),
    ],
)
def test_bad_training_data_is_refused_and_leaves_nothing(service, iris, change, error, message):
    owner = service.user("owner")
    service.playground(owner, "iris", iris)
    data = training_data(service)
    before = folder_names(service.hub, "iris"), row(service.hub, "iris")
    frame, target, descriptions = change(iris_train(iris))
    with pytest.raises(error, match=message) as caught:
        data.upload(owner, "iris", frame, target, descriptions)
    assert 400 <= caught.value.status_code < 500
    assert (folder_names(service.hub, "iris"), row(service.hub, "iris")) == before
    assert data.info(owner, "iris") is None


def test_the_decoding_limits_bound_training_data(service, iris):
    owner = service.user("owner")
    service.playground(owner, "iris", iris)
    train = iris_train(iris)
    with pytest.raises(InvalidEvalData, match=r"has 105 rows; .* at most 50 \(AIMS_MAX_TABLE_ROWS\)"):
        training_data(service, max_table_rows=50).upload(owner, "iris", train, "species")
    with pytest.raises(InvalidEvalData, match=r"at most 4 \(AIMS_MAX_TABLE_COLUMNS\)"):
        training_data(service, max_table_columns=4).upload(owner, "iris", train, "species")


def test_training_data_counts_toward_the_owners_storage(tmp_path, iris):
    hub = Hub.open(Settings(home=tmp_path / "home", user_max_storage_mb=0.03))  # 31,457 bytes
    try:
        credentials = hub.accounts.ensure_admin("admin", tmp_path / "admin.json", "http://hub.invalid")
        admin = hub.accounts.authenticate(credentials.token)
        _, token, _ = hub.accounts.create_user(admin, "owner")
        owner = hub.accounts.authenticate(token.token)
        hub.playgrounds.create(
            owner,
            PlaygroundSpec(name="iris", task_type="classification"),
            eval_labels=iris["y_test"],
            eval_features=iris["X_test"],
        )
        data = TrainingData(hub.registry, hub.playgrounds, hub.evaldata, hub.settings)
        _, eval_bytes = row(hub, "iris")
        train = iris_train(iris)

        info = data.upload(owner, "iris", train, "species")
        assert row(hub, "iris")[1] == eval_bytes + info.size_bytes
        # Replacing gives the old data's bytes back: the same data costs the same.
        again = data.upload(owner, "iris", train, "species")
        assert again.size_bytes == info.size_bytes and row(hub, "iris")[1] == eval_bytes + info.size_bytes
        smaller = data.upload(owner, "iris", train.head(10), "species")
        assert row(hub, "iris")[1] == eval_bytes + smaller.size_bytes

        # Past the limit: refused, and the data there stays as it was.
        big = pd.concat([train] * 10, ignore_index=True)
        with pytest.raises(LimitReached, match="AIMS_USER_MAX_STORAGE_MB"):
            data.upload(owner, "iris", big, "species")
        assert row(hub, "iris")[1] == eval_bytes + smaller.size_bytes
        assert data.info(owner, "iris").rows == 10
        # Admins have no limit; what they upload counts toward the owner's storage.
        data.upload(admin, "iris", big, "species")
        assert row(hub, "iris")[1] > eval_bytes + 10 * info.size_bytes - 1_000
        with pytest.raises(LimitReached):
            data.upload(owner, "iris", pd.concat([big, train], ignore_index=True), "species")
        data.upload(owner, "iris", big.head(len(big) - 1), "species")  # smaller: frees bytes
        assert data.info(owner, "iris").rows == len(big) - 1

        data.delete(owner, "iris")
        assert row(hub, "iris")[1] == eval_bytes
    finally:
        hub.close()


def test_replacing_leaves_nothing_behind_and_a_crash_is_undone(service, iris):
    owner = service.user("owner")
    service.playground(owner, "iris", iris)
    data = training_data(service)
    train = iris_train(iris)
    for n in (105, 40, 70):
        data.upload(owner, "iris", train.head(n), "species")
    assert folder_names(service.hub, "iris") == WITH_TRAINING  # one train file: the last

    # A crash after a new train file was written but before train.json named it, one in the
    # middle of writing a file (its temp file), and one in the middle of making a new id.
    repo = service.hub.evaldata
    folder = Path(repo.root) / row(service.hub, "iris")[0]
    (folder / f"train-{'0' * 32}.parquet").write_bytes(b"half")
    (folder / ".tmp-0123-train.json").write_bytes(b"{")
    (Path(repo.root) / ("f00d" * 8)).mkdir()
    (Path(repo.root) / ("f00d" * 8) / "labels.parquet").write_bytes(b"no manifest yet")
    assert len(data.download(owner, "iris")) == 70  # what train.json names, not the newer file
    with pytest.raises(NotFound):
        repo.labels("f00d" * 8)  # an id without its manifest does not exist
    service.hub.evaldata.clean_tmp()  # what the hub's start does
    assert folder_names(service.hub, "iris") == WITH_TRAINING
    assert not (Path(repo.root) / ("f00d" * 8)).exists()
    assert len(data.download(owner, "iris")) == 70 and data.info(owner, "iris").rows == 70

    data.delete(owner, "iris")
    assert folder_names(service.hub, "iris") == {"manifest.json", "labels.parquet", "features.parquet"}
    service.hub.playgrounds.delete(owner, "iris")
    assert not folder.exists()


def test_training_data_follows_eval_data_replaced_under_a_new_id(service, iris):
    owner = service.user("owner")
    service.playground(owner, "iris", iris)
    data = training_data(service)
    data.upload(owner, "iris", iris_train(iris), "species", {"species": "the species"})
    repo = service.hub.evaldata
    old_id = row(service.hub, "iris")[0]
    old = repo.labels(old_id)
    new_id = repo.save(
        labels=old.labels, is_public=old.is_public, features=repo.features(old_id), example=None
    )
    repo.carry_training(old_id, new_id)
    assert len(repo.training(new_id)) == len(iris["y_train"])
    assert repo.training_descriptions(new_id) == {"species": "the species"}
    # Copied, not moved: should the replacement fail, the old id is whole.
    assert len(repo.training(old_id)) == len(iris["y_train"])
    with pytest.raises(FileExistsError):
        repo.carry_training(old_id, new_id)  # never over training data the id already has
    repo.delete(old_id)
    assert len(repo.training(new_id)) == len(iris["y_train"])


def test_the_sample_submission_is_a_valid_predictions_file(service, iris, diabetes):
    owner, pat = service.user("owner"), service.user("pat")
    service.playground(owner, "iris", iris)
    data = training_data(service)
    sample = data.sample_submission(pat, "iris")
    assert list(sample.columns) == ["prediction"] and len(sample) == len(iris["y_test"])
    assert set(sample["prediction"]) == {sorted(set(iris["y_test"]))[0]}  # the first class
    sub = service.submit_predictions(pat, "iris", sample["prediction"])
    assert service.hub.submissions.get(pat, "iris", sub.version).status is SubmissionStatus.SCORED

    service.playground(owner, "diabetes", diabetes)
    sample = data.sample_submission(pat, "diabetes")
    assert len(sample) == len(diabetes["y_test"]) and sample["prediction"].tolist() == [0.0] * len(sample)
    assert sample["prediction"].dtype == np.float64
    with pytest.raises(AuthenticationRequired):
        data.sample_submission(None, "diabetes")


def test_regression_targets_must_be_numbers(service, diabetes):
    owner = service.user("owner")
    service.playground(owner, "diabetes", diabetes)
    data = training_data(service)
    train = diabetes["X_train"].assign(progression=diabetes["y_train"])
    assert data.upload(owner, "diabetes", train, "progression").rows == len(train)
    with pytest.raises(InvalidEvalData, match="NaN or infinite"):
        data.upload(owner, "diabetes", train.assign(progression=np.nan), "progression")


def test_media_training_data_is_a_column_of_encoded_files(service):
    owner = service.user("owner")
    service.hub.playgrounds.create(
        owner,
        PlaygroundSpec(name="shades", input_type="image", task_type="classification"),
        eval_labels=["dark", "light", "dark", "light"],
        eval_features=[png(10), png(250), png(20), png(240)],
    )
    data = training_data(service)
    train = pd.DataFrame(
        {"image": [png(v) for v in (0, 30, 200, 255)], "shade": ["dark"] * 2 + ["light"] * 2}
    )
    info = data.upload(owner, "shades", train, "shade", {"image": "an 8×8 grey square"})
    assert [(c.name, c.dtype) for c in info.columns] == [("image", "binary"), ("shade", "string")]
    assert data.download(owner, "shades")["image"].tolist() == train["image"].tolist()

    # The hub never takes a string for a path of its own.
    with pytest.raises(InvalidEvalData, match="a path or text is not accepted"):
        data.upload(owner, "shades", train.assign(image="/etc/passwd"), "shade")
    with pytest.raises(InvalidEvalData, match="not an image"):
        data.upload(owner, "shades", train.assign(image=b"not a png"), "shade")
    with pytest.raises(InvalidEvalData, match="must hold the column 'image'"):
        data.upload(owner, "shades", train.rename(columns={"image": "picture"}), "shade")
    assert data.info(owner, "shades").columns[0].description == "an 8×8 grey square"


def test_text_training_data_is_a_table_of_texts(service):
    owner = service.user("owner")
    service.hub.playgrounds.create(
        owner,
        PlaygroundSpec(name="reviews", input_type="text", task_type="classification"),
        eval_labels=["pos", "neg"],
        eval_features=pd.DataFrame({"review": ["great", "awful"]}),
    )
    data = training_data(service)
    train = pd.DataFrame({"review": ["loved it", "hated it", "fine"], "label": ["pos", "neg", "pos"]})
    assert data.upload(owner, "reviews", train, "label").rows == 3
    assert data.download(owner, "reviews")["review"].tolist() == train["review"].tolist()
    with pytest.raises(InvalidEvalData, match="must hold strings"):
        data.upload(owner, "reviews", train.assign(review=[1, 2, 3]), "label")
    with pytest.raises(InvalidEvalData, match="must hold the column 'review'"):
        data.upload(owner, "reviews", train.assign(extra="x"), "label")
