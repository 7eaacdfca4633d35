"""What an owner changes after creation, through the service layer (no Ray, no web server):
pages, visibility, the ranking metric before the start, and eval labels with re-scoring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from aims_spaces.domain import SubmissionStatus
from aims_spaces.errors import (
    CompetitionClosed,
    InvalidEvalData,
    InvalidSpec,
    PermissionDenied,
    PlaygroundNotFound,
)


def test_pages_and_visibility(service, iris):
    owner, pat = service.user("owner"), service.user("pat")
    service.playground(owner, "pages", iris, description="typo hre")
    info = service.hub.editing.update(
        owner,
        "pages",
        description="# Iris\nNo typo here.",
        pages={"rules": "Be **kind**.", "data": "150 rows"},
    )
    assert info.description.startswith("# Iris") and info.pages == {
        "rules": "Be **kind**.",
        "data": "150 rows",
    }
    info = service.hub.editing.update(owner, "pages", pages={"rules": "Be fair."})
    assert info.pages == {"rules": "Be fair.", "data": "150 rows"}  # the others stay
    with pytest.raises(PermissionDenied):
        service.hub.editing.update(pat, "pages", description="mine now")
    with pytest.raises(InvalidSpec, match="pages are"):
        service.hub.editing.update(owner, "pages", pages={"secrets": "x"})
    service.hub.editing.update(owner, "pages", private=True)
    with pytest.raises(PlaygroundNotFound):
        service.hub.playgrounds.get(pat, "pages")
    service.hub.editing.update(owner, "pages", private=False)
    assert service.hub.playgrounds.get(pat, "pages").pages["rules"] == "Be fair."


def test_new_labels_rescore_every_submission_and_are_recorded(service, iris):
    owner, pat = service.user("owner"), service.user("pat")
    service.playground(owner, "fix", iris)
    y = iris["y_test"].to_numpy()
    perfect = service.submit_predictions(pat, "fix", y)
    assert service.hub.submissions.get(owner, "fix", perfect.version).scores["all"]["accuracy"] == 1.0
    # The owner finds ten wrong labels and fixes them; a submission still waiting is scored on
    # the new labels too.
    fixed = y.copy()
    fixed[:10] = np.where(y[:10] == "setosa", "virginica", "setosa")
    service.queue.hold = True
    waiting = service.submit_predictions(pat, "fix", y)
    info = service.hub.editing.replace_data(owner, "fix", eval_labels=fixed)
    assert (
        info.data_changes[-1]["what"] == "replaced the eval labels" and info.data_changes[-1]["by"] == "owner"
    )
    board = service.hub.leaderboards.get(owner, "fix")
    assert board.rescoring == 1 and board.data_changed_at is not None
    assert board.rows[0].scores["accuracy"] == 1.0  # the old score stands until the new arrives
    service.queue.release()  # the held jobs: old ones (set aside) and the re-score
    service.queue.release()  # the waiting one, sent again on the new data
    for version in (perfect.version, waiting.version):
        sub = service.hub.submissions.get(owner, "fix", version)
        assert sub.status is SubmissionStatus.SCORED
        assert sub.scores["all"]["accuracy"] == pytest.approx(np.mean(fixed == y))
    assert service.hub.leaderboards.get(owner, "fix").rescoring == 0

    with pytest.raises(InvalidEvalData, match="classes the playground does not know"):
        service.hub.editing.replace_data(owner, "fix", eval_labels=np.where(y == "setosa", "rose", y))
    with pytest.raises(InvalidEvalData, match="replace both together"):
        service.hub.editing.replace_data(owner, "fix", eval_labels=fixed[:-1])
    with pytest.raises(PermissionDenied):
        service.hub.editing.replace_data(pat, "fix", eval_labels=y)
    assert len(service.hub.playgrounds.get(owner, "fix").data_changes) == 1  # refusals change nothing


def test_the_ranking_metric_changes_only_before_the_competition_starts(service, iris):
    owner, pat = service.user("owner"), service.user("pat")
    later = datetime.now(UTC) + timedelta(days=1)
    service.playground(owner, "soon", iris, competition_start=later)
    sub = service.submit_predictions(pat, "soon", iris["y_test"], submission_type="competition")
    info = service.hub.editing.update(owner, "soon", eval_metric="mcc")
    assert info.eval_metric.value == "mcc" and info.shown_metrics[0].value == "mcc"
    scored = service.hub.submissions.get(owner, "soon", sub.version)
    assert scored.intervals["all"] and scored.scores["all"]["mcc"] == 1.0  # scored again for mcc
    with pytest.raises(InvalidSpec, match="does not apply"):
        service.hub.editing.update(owner, "soon", eval_metric="rmse")

    service.playground(owner, "started", iris)
    service.submit_predictions(pat, "started", iris["y_test"], submission_type="competition")
    with pytest.raises(CompetitionClosed, match="only before the competition starts"):
        service.hub.editing.update(owner, "started", eval_metric="mcc")
