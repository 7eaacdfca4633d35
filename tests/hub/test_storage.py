import hashlib

import pytest

from aims_spaces.errors import NotFound
from aims_spaces.hub.storage import ArtifactStore


def test_put_is_content_addressed_and_deduplicated(tmp_path):
    store = ArtifactStore(tmp_path / "a")
    digest, created = store.put(b"model bytes")
    assert digest == hashlib.sha256(b"model bytes").hexdigest()
    assert created
    assert store.put(b"model bytes") == (digest, False)
    assert store.get(digest) == b"model bytes"
    assert store.size(digest) == len(b"model bytes")
    assert list((tmp_path / "a" / "tmp").iterdir()) == []


def test_half_written_files_never_appear_under_a_real_name(tmp_path):
    store = ArtifactStore(tmp_path / "a")
    # A crash between write and rename leaves only a temp file, which the next start removes.
    (tmp_path / "a" / "tmp" / "deadbeef").write_bytes(b"partial")
    assert store.clean_tmp() == 1
    assert not any(p.is_file() for p in (tmp_path / "a").rglob("*"))


def test_missing_and_malformed_digests_are_not_found(tmp_path):
    store = ArtifactStore(tmp_path / "a")
    with pytest.raises(NotFound):
        store.get("0" * 64)
    with pytest.raises(NotFound):
        store.get("../../etc/passwd")
    store.delete("0" * 64)  # deleting what is not there is fine


def test_fsspec_url_selects_another_backend():
    store = ArtifactStore("memory://aims-test-store")
    digest, created = store.put(b"x" * 10)
    assert created and store.exists(digest)
    assert store.get(digest) == b"x" * 10
    store.delete(digest)
    assert not store.exists(digest)
