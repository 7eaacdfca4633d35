"""The eval data and the artifacts behind fsspec URLs: the whole flow on a store that behaves like
the Hugging Face Hub (commits, no rename), unfinished writes never read, a Hub repo made private,
and eval data an earlier version kept as `datasets` folders moved to the current layout."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from aims_spaces.client.conversion import convert
from aims_spaces.core.tabular import infer_schema
from aims_spaces.domain import PlaygroundSpec, SubmissionMeta, SubmissionStatus, TaskType
from aims_spaces.errors import NotFound
from aims_spaces.hub import Hub, Settings
from aims_spaces.hub.evaldata import EvalDataRepo, ensure_private_hf_repo
from aims_spaces.hub.storage import write_file
from aims_spaces.hub.submissions import SubmissionUpload
from tests.conftest import signature
from tests.hub.commit_fs import CommitFileSystem
from tests.hub.conftest import InlineQueue, MemoryDeployer

fsspec.register_implementation("commitfs", CommitFileSystem, clobber=True)


@pytest.fixture
def store() -> tuple[CommitFileSystem, str]:
    """The shared commit store, and a folder of it for this test."""
    fs = fsspec.filesystem("commitfs")
    return fs, f"commitfs://{uuid.uuid4().hex}"


def files_on_disk(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_the_whole_flow_runs_on_a_store_without_rename(tmp_path, iris, store):
    fs, base = store
    home = tmp_path / "home"
    hub = Hub.open(
        Settings(
            home=home,
            artifact_url=f"{base}/artifacts",
            evaldata_url=f"{base}/evaldata",
            bootstrap_samples=20,
        )
    )
    try:
        hub.submissions.attach_queue(InlineQueue(hub))
        hub.deployments.attach_deployer(MemoryDeployer(hub.store.url))
        credentials = hub.accounts.ensure_admin("admin", tmp_path / "admin.json", "http://hub.invalid")
        assert credentials is not None
        owner = hub.accounts.authenticate(credentials.token)
        hub.playgrounds.create(
            owner,
            PlaygroundSpec(name="iris", task_type="classification"),
            eval_labels=iris["y_test"],
            eval_features=iris["X_test"],
            y_train=iris["y_train"],
        )
        train = iris["X_train"].assign(species=iris["y_train"]).reset_index(drop=True)
        hub.training_data.upload(owner, "iris", train.head(50), "species")
        hub.training_data.upload(owner, "iris", train, "species")  # replaced: a new file, then the pointer

        # A model and a predictions file, each scored by the evaluators from the store.
        X, y = iris["X_train"], iris["y_train"]
        sig = signature(infer_schema(X), TaskType.CLASSIFICATION, sorted(set(y)))
        onnx = convert(LogisticRegression(max_iter=500).fit(X, y), sig).onnx
        model = hub.submissions.submit(owner, "iris", SubmissionUpload(meta=SubmissionMeta(), model=onnx))
        guesses = pd.DataFrame({"prediction": list(iris["y_test"])})
        exact = hub.submissions.submit(
            owner, "iris", SubmissionUpload(meta=SubmissionMeta(), predictions=guesses)
        )
        for version in (model.version, exact.version):
            sub = hub.submissions.get(owner, "iris", version)
            assert sub.status is SubmissionStatus.SCORED, sub.error
        assert hub.submissions.get(owner, "iris", exact.version).scores["all"]["accuracy"] == 1.0

        # New labels: every entry scored again, the training data carried to the new id.
        fixed = np.where(iris["y_test"] == "setosa", "virginica", iris["y_test"])
        hub.editing.replace_data(owner, "iris", eval_labels=fixed)
        assert hub.submissions.get(owner, "iris", exact.version).scores["all"]["accuracy"] < 1.0
        pd.testing.assert_frame_equal(hub.training_data.download(owner, "iris"), train, check_dtype=False)
        hub.deployments.deploy(owner, "iris", model.version)

        evaldata = f"{CommitFileSystem._strip_protocol(base)}/evaldata"
        commits = [(op, path) for op, path in fs.commits if path.startswith(evaldata)]
        # Each id's parts were committed before its manifest, and the manifest is what a reader
        # looks for: an id is never seen half-written.
        by_id: dict[str, list[str]] = {}
        for op, path in commits:
            rest = path[len(evaldata) + 1 :]
            if op == "put" and "/" in rest:
                by_id.setdefault(rest.split("/")[0], []).append(rest.split("/")[1])
        assert len(by_id) == 2  # the first labels, then the replaced ones
        for names in by_id.values():
            assert names[:2] == ["labels.parquet", "features.parquet"] and names[2] == "manifest.json"
        assert ("copy", next(p for op, p in commits if op == "copy")) in commits  # the training data carried
        # Nothing of it is on the hub's disk: no eval data, no artifact.
        assert files_on_disk(home / "evaldata") == [] and files_on_disk(home / "artifacts") == []

        hub.playgrounds.delete(owner, "iris")
        assert not [p for p in fs.files if p.startswith(evaldata)]
    finally:
        hub.close()


def test_an_unfinished_write_is_never_read(iris, store):
    fs, base = store
    repo = EvalDataRepo(f"{base}/evaldata")
    repo.prepare()
    # A write cut short (its process died before the commit) leaves nothing behind.
    upload = fs.open(f"{base}/evaldata/abc/labels.parquet", "wb")
    upload.write(b"half")
    assert not fs.exists(f"{base}/evaldata/abc/labels.parquet")

    # A save that fails after its first part leaves no id, and no file.
    before = dict(fs.files)
    unwritable = pd.DataFrame({"x": [object(), object()]})  # Arrow cannot store it
    with pytest.raises(Exception, match="object"):
        repo.save(
            labels=np.array(["a", "b"]), is_public=np.array([True, False]), features=unwritable, example=None
        )
    assert fs.files == before

    # Parts without their manifest (a crash before the last commit) are not eval data, and the
    # next start removes them.
    eval_data_id = repo.save(
        labels=np.array(["a", "b"]), is_public=np.array([True, False]), features=None, example=None
    )
    fs.rm_file(f"{base}/evaldata/{eval_data_id}/manifest.json")
    with pytest.raises(NotFound):
        repo.labels(eval_data_id)
    repo.clean_tmp()
    assert not fs.exists(f"{base}/evaldata/{eval_data_id}/labels.parquet")


class _FakeHubApi(BaseHTTPRequestHandler):
    """The two calls of the Hugging Face Hub's API that making the eval-data repo uses."""

    repos: dict[str, dict[str, Any]] = {}

    def do_POST(self) -> None:  # noqa: N802 (the handler's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        repo_id = f"{body['organization']}/{body['name']}"
        if repo_id in self.repos:
            url = f"http://{self.headers['Host']}/datasets/{repo_id}"
            self._send(409, {"error": "You already created this dataset repo", "url": url})
            return
        self.repos[repo_id] = body
        self._send(200, {"url": f"http://{self.headers['Host']}/datasets/{repo_id}"})

    def do_GET(self) -> None:  # noqa: N802
        repo_id = self.path.removeprefix("/api/datasets/").split("/revision/")[0]
        if repo_id not in self.repos:
            self._send(404, {"error": "Repository not found"})
            return
        private = self.repos[repo_id].get("visibility") == "private"
        self._send(200, {"id": repo_id, "private": private, "sha": "0" * 40})

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_hugging_face_repo_is_made_private_and_a_public_one_refused():
    from huggingface_hub import HfApi

    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeHubApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = HfApi(endpoint=f"http://127.0.0.1:{server.server_port}", token="hf_test")
        ensure_private_hf_repo("teacher/cup-labels", api=api)
        assert _FakeHubApi.repos["teacher/cup-labels"]["visibility"] == "private"
        assert _FakeHubApi.repos["teacher/cup-labels"]["type"] == "dataset"
        ensure_private_hf_repo("teacher/cup-labels", api=api)  # already there and private: fine
        _FakeHubApi.repos["teacher/open"] = {"visibility": "public"}
        with pytest.raises(ValueError, match="teacher/open on Hugging Face is public"):
            ensure_private_hf_repo("teacher/open", api=api)
    finally:
        server.shutdown()


def test_eval_data_kept_as_datasets_folders_is_moved_to_parquet(tmp_path, iris):
    """What a hub of an earlier version left (one `datasets` folder per part) is rewritten at
    the start, before the clean-up that would take it for an unfinished id."""
    from datasets import Dataset

    root = tmp_path / "evaldata"
    folder = root / "0123abcd"
    labels = pd.DataFrame(
        {"label": list(iris["y_test"]), "is_public": np.arange(len(iris["y_test"])) % 2 == 0}
    )
    Dataset.from_pandas(labels, preserve_index=False).save_to_disk(str(folder / "labels"))
    features = iris["X_test"].reset_index(drop=True)
    Dataset.from_pandas(features, preserve_index=False).save_to_disk(str(folder / "features"))
    train = iris["X_train"].assign(species=iris["y_train"]).reset_index(drop=True)
    Dataset.from_pandas(train, preserve_index=False).save_to_disk(str(folder / "train"))
    meta = {
        "rows": len(train),
        "target": "species",
        "data_bytes": 123,
        "descriptions": {"species": "the kind"},
    }
    (folder / "train_columns.json").write_text(json.dumps(meta))

    repo = EvalDataRepo(root)
    repo.prepare()
    repo.clean_tmp()
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("train-")) == [
        "features.parquet",
        "labels.parquet",
        "manifest.json",
        "train.json",
    ]
    assert list(repo.labels("0123abcd").labels) == list(iris["y_test"])
    pd.testing.assert_frame_equal(repo.features("0123abcd"), features)
    pd.testing.assert_frame_equal(repo.training("0123abcd"), train)
    kept = repo.training_meta("0123abcd")
    assert (kept.target, kept.data_bytes, kept.descriptions) == ("species", 123, {"species": "the kind"})


def test_a_local_repo_outside_the_home_is_the_hub_users_alone(tmp_path):
    repo = EvalDataRepo(tmp_path / "shared" / "evaldata")
    repo.prepare()
    assert (tmp_path / "shared" / "evaldata").stat().st_mode & 0o777 == 0o700


def test_the_stores_must_be_apart_and_the_earlier_setting_name_still_counts(tmp_path, monkeypatch):
    shared = tmp_path / "store"
    with pytest.raises(ValueError, match="must be separate folders"):
        Hub.open(
            Settings(home=tmp_path / "home", artifact_url=str(shared), evaldata_url=str(shared / "evaldata"))
        )
    monkeypatch.setenv("AIMS_EVALDATA_DIR", str(tmp_path / "kept"))
    assert Settings(home=tmp_path / "home").resolved_evaldata_url == str(tmp_path / "kept")


def test_only_what_the_hub_names_is_cleaned_up(tmp_path):
    """A repo root that holds other things (a shared folder, a bucket, a Hub repo's
    .gitattributes) keeps them: the clean-up looks at ids, train files and its temp files only."""
    root = tmp_path / "evaldata"
    root.mkdir()
    (root / ".gitattributes").write_text("*.parquet filter=lfs")
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("keep")
    repo = EvalDataRepo(root)
    repo.prepare()
    complete = repo.save(
        labels=np.array(["a", "b"]), is_public=np.array([True, False]), features=None, example=None
    )
    unfinished = root / ("f" * 32)
    unfinished.mkdir()
    (unfinished / "labels.parquet").write_bytes(b"no manifest")
    # train.json may only name a train file: a tampered one names nothing, and deletes nothing.
    (root / complete / "train.json").write_text(json.dumps({"file": ""}))
    repo.clean_tmp()
    assert sorted(p.name for p in root.iterdir()) == sorted([".gitattributes", "notes", complete])
    assert repo.training(complete) is None and repo.delete_training(complete) is None
    assert list(repo.labels(complete).labels) == ["a", "b"]


def test_a_local_write_is_whole_private_and_leaves_no_temp_file(tmp_path, monkeypatch):
    record = tmp_path / "home" / "run.json"
    write_file(record, b'{"pid": 1}')
    write_file(record, b'{"pid": 2}')
    assert record.read_bytes() == b'{"pid": 2}'
    assert record.stat().st_mode & 0o777 == 0o600  # the admin's credentials are written so too
    assert [p.name for p in record.parent.iterdir()] == ["run.json"]

    def no_space(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", no_space)  # the disk fills up before the temp file is whole
    with pytest.raises(OSError, match="No space"):
        write_file(record, b'{"pid": 3, "half": ')
    assert record.read_bytes() == b'{"pid": 2}'  # the old record, untouched
    assert [p.name for p in record.parent.iterdir()] == ["run.json"]
