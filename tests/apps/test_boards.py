"""The boards in a real browser: who, which model, its description and the ranking metric first,
readable metric names, a column picker, one precision for every score, intervals in one cell, a
trend plot on a time axis and a Compare table without ``nan``."""

from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import Locator, Page, expect
from sklearn.linear_model import LogisticRegression

from aims_spaces import ModelPlayground
from tests.apps.conftest import choose_many, screenshot
from tests.apps.test_browser import login

pytestmark = [pytest.mark.hub, pytest.mark.browser]
SCORE = re.compile(r"^-?\d+\.\d{3}$")
INTERVAL = re.compile(r"^\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]$")
CLOCK = re.compile(r"^\d{2}:\d{2}:\d{2}$")  # submissions seconds apart: times of day to the second


def _table(grid: Locator) -> tuple[list[str], list[dict[str, str]]]:
    """A grid's headers and its rows as header → text."""
    headers = [h.replace("⋮", "").strip() for h in grid.get_by_role("columnheader").all_inner_texts()]
    rows = [
        dict(zip(headers, [c.strip() for c in row.get_by_role("gridcell").all_inner_texts()], strict=True))
        for row in grid.get_by_role("row").all()[1:]
    ]
    return headers, rows


def test_the_boards_read_like_a_table_of_people_models_and_scores(page: Page, hub, users, iris):
    pg = ModelPlayground(
        input_type="tabular", task_type="classification", name="web-boards", client=users("bea")
    )
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"], y_train=iris["y_train"])
    model = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    pg.submit_model(model=model, submission_type="all", description="logistic regression").wait()
    y = iris["y_test"].to_numpy()
    rough = y.copy()
    rough[::4] = np.roll(y, 1)[::4]
    pg.submit_model(prediction_submission=rough, submission_type="all", description="rough guesses").wait()
    pg.submit_model(prediction_submission=y, submission_type="all", description="the answers").wait()

    login(page, hub, "bea", users.passwords["bea"], "/p/web-boards/")
    page.get_by_role("tab", name="Experiments").click()
    panel = page.get_by_role("tabpanel")
    grid = page.get_by_role("grid", name=re.compile("Experiment leaderboard"))
    expect(grid).to_contain_text("rough guesses")
    headers, rows = _table(grid)
    assert headers[:8] == [
        "rank",
        "who",
        "model",
        "description",
        "Accuracy",
        "F1 (macro)",
        "Precision (macro)",
        "Recall (macro)",
    ]
    by_description = {row["description"]: row for row in rows}
    assert by_description["logistic regression"]["model"] == "LogisticRegression (sklearn)"
    assert by_description["rough guesses"]["model"] == "predictions only"
    assert {row["who"] for row in rows} == {"bea"}
    assert by_description["the answers"]["Accuracy"] == "1.000 [1.000, 1.000]"  # not "1"
    for row in rows:
        assert INTERVAL.match(row["Accuracy"]), row
        assert all(SCORE.match(row[h]) for h in headers[5:8]), row
    screenshot(page, "leaderboard-columns")

    # The picker changes the columns; a metric that some rows lack stays blank for them.
    panel.get_by_role("checkbox", name="Log loss").check()
    panel.get_by_role("checkbox", name="Precision (macro)").uncheck()
    expect(grid.get_by_role("columnheader", name="Log loss")).to_be_visible()
    expect(grid.get_by_role("columnheader", name="Precision (macro)")).to_have_count(0)
    headers, rows = _table(grid)
    assert headers[4:7] == ["Accuracy", "F1 (macro)", "Recall (macro)"] and "Log loss" in headers
    log_loss = {row["description"]: row["Log loss"] for row in rows}
    assert SCORE.match(log_loss["logistic regression"]) and log_loss["rough guesses"] == ""

    # The trend plot: a time axis of clock times, score ticks that differ, readable titles.
    page.get_by_text("Best Accuracy over time").click()
    x_axis = page.locator("g.role-axis[aria-label^='X-axis']")
    y_axis = page.locator("g.role-axis[aria-label^='Y-axis']")
    expect(y_axis).to_have_attribute("aria-label", re.compile("best Accuracy"))
    assert "time scale" in (x_axis.get_attribute("aria-label") or "")
    x_ticks = x_axis.locator(".role-axis-label text").all_text_contents()
    y_ticks = y_axis.locator(".role-axis-label text").all_text_contents()
    assert x_ticks and all(CLOCK.match(t) for t in x_ticks), x_ticks
    assert len(y_ticks) >= 3 and len(set(y_ticks)) == len(y_ticks), y_ticks
    assert all(SCORE.match(t) for t in y_ticks), y_ticks
    screenshot(page, "leaderboard-trend")

    # The competition board: the owner sees the private twin of the ranking score, both with
    # their intervals.
    page.get_by_role("tab", name="Competition").click()
    comp = page.get_by_role("grid", name=re.compile("Competition leaderboard"))
    expect(comp).to_contain_text("bea")
    headers, rows = _table(comp)
    assert headers[:6] == ["rank", "who", "model", "description", "Accuracy · public", "Accuracy · private"]
    assert rows and all(
        INTERVAL.match(r["Accuracy · public"]) and INTERVAL.match(r["Accuracy · private"]) for r in rows
    )

    # Compare: absent values blank, the rows that differ marked.
    page.get_by_role("tab", name="Compare").click()
    choose_many(page.get_by_label("versions"), ["1", "2"])
    page.get_by_role("button", name="Compare").click()
    table = page.locator(".aims-compare")
    expect(table).to_contain_text("rough guesses")
    assert not re.search(r"\bnan\b|\bNone\b", table.inner_text(), re.IGNORECASE)
    model_row = table.locator("tr", has=page.locator("th", has_text=re.compile(r"^model$")))
    expect(model_row).to_have_class("aims-differs")
    expect(model_row.locator("td")).to_have_text(["≠", "LogisticRegression", ""])
    expect(
        table.locator("tr", has=page.locator("th", has_text=re.compile(r"^by$"))).locator("td")
    ).to_have_text(["", "bea", "bea"])
    accuracy = table.locator("tr", has=page.locator("th", has_text=re.compile(r"^Accuracy \(all rows\)$")))
    marked, *scores = accuracy.locator("td").all_inner_texts()
    assert marked == "≠" and len(scores) == 2 and all(SCORE.match(t) for t in scores), scores
    screenshot(page, "playground-compare-marked")


def test_the_column_pickers_follow_the_owners_metric_columns_without_a_restart(page: Page, hub, users, iris):
    pg = ModelPlayground(
        input_type="tabular", task_type="classification", name="web-picker", client=users("piet")
    )
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
    pg.submit_model(prediction_submission=iris["y_test"], submission_type="all").wait()
    login(page, hub, "piet", users.passwords["piet"], "/p/web-picker/")  # the page is built by now
    page.get_by_role("tab", name="Experiments").click()
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_role("checkbox", name="Precision (macro)")).to_be_visible()

    pg.update(shown_metrics=["log_loss", "balanced_accuracy"])  # the same page, not rebuilt
    page.reload()
    page.get_by_role("tab", name="Experiments").click()
    for name in ("Log loss", "Balanced accuracy"):
        expect(panel.get_by_role("checkbox", name=name)).to_be_checked()
    expect(panel.get_by_role("checkbox", name="Precision (macro)")).to_have_count(0)
    grid = page.get_by_role("grid", name=re.compile("Experiment leaderboard"))
    expect(grid.get_by_role("columnheader", name="Balanced accuracy")).to_be_visible()
    page.get_by_role("tab", name="Competition").click()
    expect(panel.get_by_role("checkbox", name="Log loss")).to_be_checked()
    expect(panel.get_by_role("checkbox", name="Precision (macro)")).to_have_count(0)
