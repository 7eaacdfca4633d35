"""The pure formatting behind the boards, the trend plot and Compare: no hub, no browser."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from aims_spaces.domain import (
    Board,
    Leaderboard,
    LeaderboardRow,
    Metric,
    Split,
    SubmissionInfo,
    SubmissionStatus,
    SubmissionType,
)
from apps import tables

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCORES = {"accuracy": 1.0, "f1_macro": 0.9, "precision_macro": 0.95454, "recall_macro": 1, "mcc": -0.00001}


def _row(rank: int, version: int, **changes: Any) -> LeaderboardRow:
    values: dict[str, Any] = {
        "rank": rank,
        "version": version,
        "username": "ana",
        "submission_type": SubmissionType.ALL,
        "created_at": T0 + timedelta(seconds=20 * version),
        "framework": "sklearn",
        "model_type": "LogisticRegression",
        "description": "## logistic regression\nwith more lines",
        "scores": dict(SCORES),
        "interval": [0.86, 1.0],
        "verified": True,
        "mismatch_fraction": 0.0,
        "duplicate_of": None,
        "metadata": {"params": {"LogisticRegression": {"C": 0.3}}},
        "custom_metadata": {"team": "blue"},
        "onnx_metadata": {"parameters": 15},
    }
    values.update(changes)
    return LeaderboardRow(**values)


def _board(rows: list[LeaderboardRow], **changes: Any) -> Leaderboard:
    values: dict[str, Any] = {
        "playground": "p",
        "board": Board.EXPERIMENT,
        "metric": Metric.ACCURACY,
        "higher_is_better": True,
        "scored_on": Split.ALL,
        "ranked_on": Split.ALL,
        "shows_private": False,
        "rows": rows,
    }
    values.update(changes)
    return Leaderboard(**values)


def test_every_score_has_the_same_decimals_and_an_interval_reads_as_one_cell():
    assert tables.score_text(1) == "1.000" and tables.score_text(0.95454) == "0.955"
    assert tables.score_text(-0.00001) == "0.000"  # never "-0.000"
    assert tables.score_text(None) == tables.score_text(float("nan")) == tables.score_text("x") == ""
    assert tables.score_text(2 / 3, 1) == "0.7" and tables.score_text(3512.25, 0) == "3512"
    assert tables.interval_text(0.95, [0.86, 1.0]) == "0.950 [0.860, 1.000]"
    assert tables.interval_text(0.95, None) == "0.950" and tables.interval_text(None, [0.1, 0.2]) == ""
    assert tables.rounded(0.95454) == 0.955 and tables.rounded(float("nan")) is None


def test_names_read_like_words():
    assert tables.metric_label("f1_macro") == "F1 (macro)" and tables.metric_label("r2") == "R²"
    assert tables.metric_label("mystery") == "mystery"
    assert tables.model_text("LogisticRegression", "sklearn") == "LogisticRegression (sklearn)"
    assert tables.model_text("onnx", "onnx") == "onnx" and tables.model_text(None, None) == "predictions only"
    assert tables.who_text("lev", "owls") == "owls (lev)" and tables.who_text("lev", None) == "lev"
    assert (
        tables.plain_text(100.0) == "100"
        and tables.plain_text(0.3) == "0.3"
        and tables.plain_text(None) == ""
    )
    assert tables.plain_text(True) == "True" and tables.yes_no(False) == "no" and tables.yes_no(None) == ""
    assert tables.plain_text("x" * 50, 10) == "x" * 9 + "…"


def test_the_board_leads_with_who_what_and_the_ranking_metric_and_the_picker_picks():
    rows = [_row(1, 2), _row(2, 1, framework=None, model_type=None, interval=None, custom_metadata={})]
    table = tables.board_table(_board(rows), details=False, serving_version=1)
    assert table.headers[:5] == ["rank", "who", "model", "description", "Accuracy"]
    assert table.headers[5:8] == ["F1 (macro)", "Precision (macro)", "Recall (macro)"]  # the default few
    assert "MCC" not in table.headers and "custom.team" in table.headers
    first, second = (dict(zip(table.headers, texts, strict=True)) for texts in table.texts)
    assert first["Accuracy"] == "1.000 [0.860, 1.000]" and second["Accuracy"] == "1.000"
    assert first["Precision (macro)"] == "0.955" and first["Recall (macro)"] == "1.000"
    assert first["description"] == "logistic regression"  # the first line, without its heading mark
    assert second["model"] == "predictions only" and second["serving"] == "●" and second["custom.team"] == ""
    assert first["submitted (UTC)"] == "2026-03-01 12:00"
    values = dict(zip(table.headers, table.values[0], strict=True))
    assert values["Accuracy"] == 1.0 and values["Precision (macro)"] == 0.955  # numbers sort as numbers
    assert table.value()["metadata"]["display_value"] == table.texts

    picked = tables.board_table(_board(rows), details=True, serving_version=None, columns=["mcc", "nope"])
    assert picked.headers[4:6] == ["Accuracy", "MCC"] and "F1 (macro)" not in picked.headers
    assert {"board", "verified", "param.LogisticRegression.C", "onnx.parameters"} <= set(picked.headers)
    assert dict(zip(picked.headers, picked.texts[0], strict=True))["MCC"] == "0.000"
    assert (
        tables.board_table(_board(rows), details=False, serving_version=None, columns=[]).headers[5]
        == "version"
    )
    assert len(tables.board_table(_board(rows), details=False, serving_version=None).head(1)) == 1


def test_the_competition_board_puts_the_score_that_ranks_first_and_names_its_rows():
    rows = [
        _row(
            1,
            3,
            team="owls",
            username="lev",
            entries=2,
            private_scores={"accuracy": 0.9},
            private_interval=[0.8, 1],
        )
    ]
    open_board = _board(
        rows, board=Board.COMPETITION, scored_on=Split.PUBLIC, ranked_on=Split.PUBLIC, shows_private=True
    )
    table = tables.board_table(open_board, details=False, serving_version=None, columns=["f1_macro"])
    assert table.headers[:7] == [
        "rank",
        "who",
        "model",
        "description",
        "Accuracy · public",
        "Accuracy · private",
        "F1 (macro) · public",
    ]
    cells = dict(zip(table.headers, table.texts[0], strict=True))
    assert cells["who"] == "owls (lev)" and cells["entries"] == "2"
    assert cells["Accuracy · private"] == "0.900 [0.800, 1.000]" and cells["F1 (macro) · private"] == ""
    closed = open_board.model_copy(update={"ranked_on": Split.PRIVATE})
    assert tables.board_table(closed, details=False, serving_version=None).headers[4:6] == [
        "Accuracy · private",
        "Accuracy · public",
    ]
    empty = tables.board_table(_board([]), details=True, serving_version=None)
    assert len(empty) == 0 and empty.headers[:5] == ["rank", "who", "model", "description", "Accuracy"]


def test_the_trend_has_a_time_axis_and_score_ticks_that_differ():
    rows = [_row(i + 1, v, scores={"accuracy": a}) for i, (v, a) in enumerate([(1, 0.9), (2, 0.9), (3, 0.8)])]
    frame = tables.best_over_time(_board(rows))
    assert str(frame["submitted"].dtype) == "datetime64[ns]" and frame["best"].tolist() == [0.9, 0.9]
    axes = tables.trend_axes(frame, Metric.ACCURACY, 3)
    assert axes["x_axis_format"] == "%H:%M:%S" and axes["y_title"] == "best Accuracy"
    low, high = axes["y_lim"]
    assert high - low >= 0.005 and low < 0.9 < high  # ticks 0.001 apart at least: they differ
    assert tables.trend_axes(frame.assign(best=[1.0, 1.0]), Metric.ACCURACY)["y_lim"][1] == 1.0
    assert tables.trend_axes(frame.assign(best=[0.0, 0.0]), Metric.RMSE)["y_lim"][0] == 0.0
    later = frame.assign(submitted=[pd.Timestamp("2026-01-01"), pd.Timestamp("2026-03-01")])
    assert tables.trend_axes(later, Metric.ACCURACY)["x_axis_format"] == "%Y-%m-%d"
    empty = tables.best_over_time(_board([]))
    assert empty.empty and str(empty["submitted"].dtype) == "datetime64[ns]"
    assert "y_lim" not in tables.trend_axes(empty, Metric.ACCURACY)


def _info(version: int, **changes: Any) -> SubmissionInfo:
    values: dict[str, Any] = {
        "playground": "p",
        "version": version,
        "username": "mallory",
        "submission_type": SubmissionType.ALL,
        "status": SubmissionStatus.SCORED,
        "created_at": T0,
        "framework": "sklearn",
        "model_type": "LogisticRegression",
        "scores": {"all": {"accuracy": 1.0, "f1_macro": 0.95454}},
        "custom_metadata": {"note": "<script>alert(1)</script>"},
        "metadata": {"params": {"LogisticRegression": {"C": 1.0}}},
    }
    values.update(changes)
    return SubmissionInfo(**values)


def test_compare_leaves_absent_values_blank_marks_differences_and_escapes():
    page = tables.comparison_html(
        [
            _info(1),
            _info(2, framework=None, model_type=None, metadata={}, scores={"all": {"accuracy": 0.9}}),
        ]
    )
    assert "nan" not in page.lower() and "None" not in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    found = re.findall(r"<tr[^>]*><td[^>]*>(≠?)</td><th>([^<]*)</th>(.*?)</tr>", page)
    cells = {label: (mark, body) for mark, label, body in found}
    assert cells["Accuracy (all rows)"] == ("≠", "<td>1.000</td><td>0.900</td>")
    assert cells["F1 (macro) (all rows)"] == ("≠", "<td>0.955</td><td></td>")  # absent: blank
    assert cells["by"] == ("", "<td>mallory</td><td>mallory</td>")  # the same: not marked
    assert 'class="aims-differs"' in page
    assert tables.comparison_html([_info(1)]) == "<p>Pick two or more versions.</p>"
    many = tables.comparison_html([_info(v) for v in range(1, 20)])
    assert "first 12 of the 19" in many and "<th>v13</th>" not in many


def test_the_model_and_submit_tables_use_the_same_precision_and_names():
    frame = tables.scores_frame(
        {"public": {"accuracy": 1.0, "f1_macro": None}, "private": {"accuracy": 0.95454}}
    )
    assert list(frame.columns) == ["rows", "Accuracy", "F1 (macro)"]
    assert frame.values.tolist() == [["public rows", "1.000", ""], ["private rows", "0.955", ""]]
    row = tables.row_frame(
        {"version": 3, "username": "ana", "verified": True, "public.accuracy": 1, "mcc": 0.5}, 2
    )
    assert row.iloc[0].to_dict() == {
        "version": "3",
        "username": "ana",
        "verified": "yes",
        "Accuracy (public rows)": "1.00",
        "MCC": "0.50",
    }
