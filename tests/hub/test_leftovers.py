"""A crash between a store write and the registry commit that names (or stops naming) what was
written leaves nothing in the stores for good: the next start removes the eval data and files no
row names — a deleted playground's labels included — and nothing it was not told about."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from aims_spaces.domain import SubmissionStatus
from aims_spaces.hub.leftovers import SETTLE_AFTER, Leftovers
from aims_spaces.hub.registry import PendingRemovalRow, PlaygroundRow, SubmissionRow, utcnow


class Crash(BaseException):
    """The process dying at this point: nothing after it runs."""


def crash(*args, **kwargs):
    raise Crash


def eval_data_ids(service) -> set[str]:
    return {p.name for p in Path(service.hub.evaldata.root).iterdir() if len(p.name) == 32}


def artifacts(service) -> set[str]:
    return {p.name for p in Path(service.hub.store.root).rglob("*") if p.is_file() and len(p.name) == 64}


def notes(service) -> int:
    with service.hub.registry.session() as s:
        return s.scalar(select(func.count()).select_from(PendingRemovalRow))


def age_notes(service, by: timedelta = SETTLE_AFTER) -> None:
    """Move every note back in time, as the half hour before the next start would."""
    with service.hub.registry.session() as s:
        s.execute(update(PendingRemovalRow).values(noted_at=utcnow() - by - timedelta(minutes=1)))


def named(service) -> set[str]:
    with service.hub.registry.session() as s:
        return set(s.scalars(select(PlaygroundRow.eval_data_id)))


def test_a_crash_anywhere_in_a_playgrounds_life_leaves_nothing_after_the_next_start(
    service, iris, monkeypatch
):
    owner = service.user("owner")
    service.playground(owner, "kept", iris)

    # Made: the eval data was written, and the process died before its row was in.
    with monkeypatch.context() as m:
        m.setattr(service.hub.playgrounds, "info", crash)  # inside the row's transaction
        m.setattr(Leftovers, "settle", crash)  # so no clean-up runs either
        with pytest.raises(Crash):
            service.playground(owner, "lost", iris)
    assert len(eval_data_ids(service)) == 2 and notes(service) == 1  # written, and noted first

    # Replaced: the row names the new eval data; the process died before removing the old.
    service.playground(owner, "fixed", iris)
    before = eval_data_ids(service)
    with monkeypatch.context() as m:
        m.setattr(Leftovers, "settle", crash)
        with pytest.raises(Crash):
            service.hub.editing.replace_data(owner, "fixed", eval_labels=iris["y_test"])
    assert len(eval_data_ids(service) - before) == 1  # the new beside the old

    # Deleted: the row went, with its submission; the process died before the stores were told.
    service.playground(owner, "gone", iris)
    service.submit_predictions(owner, "gone", iris["y_test"])
    assert artifacts(service)
    with monkeypatch.context() as m:
        m.setattr(Leftovers, "settle", crash)
        with pytest.raises(Crash):
            service.hub.playgrounds.delete(owner, "gone")
    assert len(eval_data_ids(service)) == 5 and notes(service) == 4  # lost, old, gone, its file

    # Eval data no note names (another registry's, put there by mistake) is not this hub's to remove.
    stranger = Path(service.hub.evaldata.root) / ("5" * 32)
    stranger.mkdir()
    (stranger / "manifest.json").write_text("{}")

    service.hub.clean_up_after_crash()  # a start at once: a note this new may be a flow's in flight
    assert notes(service) == 4 and len(eval_data_ids(service)) == 6
    age_notes(service)
    service.hub.clean_up_after_crash()  # the next start, half an hour on
    assert sorted(service.hub.playgrounds.names()) == ["fixed", "kept"]
    assert eval_data_ids(service) == named(service) | {"5" * 32}
    assert not artifacts(service)  # the deleted playground's file, which no other submission shares
    assert notes(service) == 0
    for name in ("kept", "fixed"):  # both whole: the labels of each are read
        assert service.hub.playgrounds.get(owner, name).n_eval_rows == len(iris["y_test"])


def test_a_removal_the_store_refuses_keeps_its_note_and_fails_nothing(service, iris, monkeypatch):
    owner = service.user("owner")
    service.playground(owner, "iris", iris)
    (eval_data_id,) = eval_data_ids(service)
    with monkeypatch.context() as m:
        m.setattr(service.hub.evaldata, "delete", lambda key: crash_with(PermissionError("read-only")))
        service.hub.playgrounds.delete(owner, "iris")  # done, though its eval data stays a while
        assert service.hub.playgrounds.names() == [] and notes(service) == 1
        age_notes(service)
        service.hub.clean_up_after_crash()  # the store still refuses: the start goes on
        assert notes(service) == 1
    service.hub.clean_up_after_crash()
    assert notes(service) == 0 and eval_data_id not in eval_data_ids(service)


def crash_with(error: Exception):
    raise error


def test_a_flow_that_ends_leaves_no_note_and_a_failed_one_no_data(service, iris, monkeypatch):
    owner = service.user("owner")
    service.playground(owner, "iris", iris)
    service.hub.editing.replace_data(owner, "iris", eval_labels=iris["y_test"])
    assert notes(service) == 0 and eval_data_ids(service) == named(service)
    with monkeypatch.context() as m:
        m.setattr(service.hub.playgrounds, "info", crash)  # a failure the flow survives
        with pytest.raises(Crash):
            service.playground(owner, "failed", iris)
    assert notes(service) == 0 and eval_data_ids(service) == named(service)
    service.hub.playgrounds.delete(owner, "iris")
    assert notes(service) == 0 and eval_data_ids(service) == set()


def test_a_file_a_submit_is_storing_survives_a_delete_of_the_same_bytes(service, iris, monkeypatch):
    """Two submissions of the same predictions share one file. A delete of the first that runs
    while the second is between storing its file and committing its row finds no row naming the
    file; it must not remove it (the second would be left naming a missing file)."""
    owner = service.user("owner")
    for name in ("old", "new"):
        service.playground(owner, name, iris)
    service.submit_predictions(owner, "old", iris["y_test"])
    (shared,) = artifacts(service)

    store, stored, go_on = service.hub.store, threading.Event(), threading.Event()
    real_put = store.put

    def put_then_pause(data: bytes, **kwargs):
        out = real_put(data, **kwargs)
        stored.set()
        assert go_on.wait(60)
        return out

    monkeypatch.setattr(store, "put", put_then_pause)
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(service.submit_predictions, owner, "new", iris["y_test"])
        assert stored.wait(60)
        service.hub.playgrounds.delete(owner, "old")  # its file is the second's too
        assert artifacts(service) == {shared} and notes(service) == 1  # kept, and still noted
        go_on.set()
        second.result(timeout=60)
    # Scored, which reads the file (the service's queue runs the evaluation inline).
    assert service.hub.submissions.get(owner, "new", 1).status is SubmissionStatus.SCORED
    with service.hub.registry.session() as s:
        assert s.scalar(select(SubmissionRow.predictions_sha256)) == shared
    age_notes(service)
    service.hub.clean_up_after_crash()  # a later start: the note goes, the named file stays
    assert notes(service) == 0 and artifacts(service) == {shared}
