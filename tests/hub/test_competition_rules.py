"""The competition's rules on plain values: no hub, no database, no Ray (well under a second)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from aims_spaces.domain import Board, Split, SubmissionStatus, SubmissionType
from aims_spaces.errors import (
    CompetitionClosed,
    InvalidEvalData,
    InvalidSpec,
    LimitReached,
    PermissionDenied,
    QuotaExceeded,
)
from aims_spaces.hub import competition as rules
from aims_spaces.hub.competition import BoardView, Competition

NOW = datetime(2026, 5, 17, 15, 30, tzinfo=UTC)
OPEN = Competition(public_fraction=0.5, daily_limit=3)
CLOSED = Competition(public_fraction=0.5, closed_at=NOW - timedelta(hours=1), daily_limit=3)
PAST_DEADLINE = Competition(public_fraction=0.5, deadline=NOW - timedelta(seconds=1))
NO_SPLIT = Competition(public_fraction=1.0)


def test_the_rules_module_stands_alone():
    code = (
        "import sys, aims_spaces.hub.competition\n"
        "heavy = {'ray', 'sqlalchemy', 'gradio', 'fastapi', 'onnxruntime'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_open_until_closed_or_past_the_deadline():
    assert not OPEN.is_closed(NOW)
    assert CLOSED.is_closed(NOW)
    assert PAST_DEADLINE.is_closed(NOW)
    future = Competition(public_fraction=0.5, deadline=NOW + timedelta(minutes=1))
    assert not future.is_closed(NOW) and future.is_closed(NOW + timedelta(minutes=1))


def test_settings_are_checked():
    assert rules.check_public_fraction(1) == 1.0
    for bad in (0, -0.1, 1.01):
        with pytest.raises(InvalidSpec, match="public_fraction"):
            rules.check_public_fraction(bad)
    for bad in (0, -1, 10_001, 2**70):
        with pytest.raises(InvalidSpec, match="between 1 and 10,000"):
            rules.check_daily_limit(bad)
    with pytest.raises(InvalidSpec, match="whole number"):
        rules.check_daily_limit(True)
    assert rules.as_utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)
    plus2 = datetime(2026, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert rules.as_utc(plus2) == datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(("n", "fraction", "public"), [(10, 0.5, 5), (3, 0.01, 1), (3, 0.99, 2), (7, 1.0, 7)])
def test_the_row_split_leaves_rows_on_both_sides(n, fraction, public):
    mask = rules.split_rows(n, fraction, np.random.default_rng(0))
    assert mask.dtype == bool and mask.shape == (n,) and int(mask.sum()) == public


def test_a_split_needs_two_rows():
    with pytest.raises(InvalidEvalData, match="at least two"):
        rules.split_rows(1, 0.5, np.random.default_rng(0))


def test_private_scores_are_for_managers_until_the_close():
    assert not rules.sees_private_scores(OPEN, manages=False, now=NOW)
    assert rules.sees_private_scores(OPEN, manages=True, now=NOW)
    assert rules.sees_private_scores(CLOSED, manages=False, now=NOW)
    assert rules.sees_private_scores(PAST_DEADLINE, manages=False, now=NOW)


@pytest.mark.parametrize(
    ("competition", "board", "manages", "view"),
    [
        # The competition board: public scores, ranked on public rows until the close.
        (OPEN, Board.COMPETITION, False, BoardView(Split.PUBLIC, Split.PUBLIC, False)),
        (OPEN, Board.COMPETITION, True, BoardView(Split.PUBLIC, Split.PUBLIC, True)),
        (CLOSED, Board.COMPETITION, False, BoardView(Split.PUBLIC, Split.PRIVATE, True)),
        # The experiment board: all rows only for those who may see private scores.
        (OPEN, Board.EXPERIMENT, False, BoardView(Split.PUBLIC, Split.PUBLIC, False)),
        (OPEN, Board.EXPERIMENT, True, BoardView(Split.ALL, Split.ALL, False)),
        (CLOSED, Board.EXPERIMENT, False, BoardView(Split.ALL, Split.ALL, False)),
        # Without a split there is one set of rows.
        (NO_SPLIT, Board.COMPETITION, False, BoardView(Split.ALL, Split.ALL, False)),
        (NO_SPLIT, Board.EXPERIMENT, True, BoardView(Split.ALL, Split.ALL, False)),
    ],
)
def test_which_rows_score_and_rank_each_board(competition, board, manages, view):
    assert rules.board_view(competition, board, manages=manages, now=NOW) == view


def test_boards_list_their_submission_types():
    assert set(rules.board_types(Board.COMPETITION)) == {SubmissionType.COMPETITION, SubmissionType.ALL}
    assert set(rules.board_types(Board.EXPERIMENT)) == {SubmissionType.EXPERIMENT, SubmissionType.ALL}


def test_hidden_scores_include_the_all_rows_score():
    scores = {"all": {"accuracy": 0.9}, "public": {"accuracy": 0.8}, "private": {"accuracy": 1.0}}
    intervals = {"all": [0.8, 1.0], "public": [0.7, 0.9], "private": [0.9, 1.0]}

    def visible(competition, manages):
        return rules.visible_scores(
            competition, scores, intervals, metric="accuracy", manages=manages, now=NOW
        )

    shown, shown_ci = visible(OPEN, manages=False)
    assert shown == {"public": {"accuracy": 0.8}} and shown_ci == {}  # no interval while open
    assert visible(OPEN, manages=True) == (scores, intervals)
    assert visible(CLOSED, manages=False) == (scores, intervals)
    assert visible(NO_SPLIT, manages=False)[0] == scores
    assert "private" in scores  # the caller's dicts are left alone


def test_the_day_window_is_the_utc_day():
    start, end = rules.day_window(NOW)
    assert start == datetime(2026, 5, 17, tzinfo=UTC) and end == datetime(2026, 5, 18, tzinfo=UTC)
    late_in_tokyo = datetime(2026, 5, 18, 8, 0, tzinfo=timezone(timedelta(hours=9)))  # 23:00 UTC on the 17th
    assert rules.day_window(late_in_tokyo) == (start, end)
    assert rules.day_window(end)[0] == end


def test_what_counts_toward_the_quota():
    def counts(competition, stype, status=SubmissionStatus.SCORED, manages=False):
        return rules.counts_toward_quota(competition, stype, status, manages=manages, now=NOW)

    assert counts(OPEN, SubmissionType.COMPETITION, SubmissionStatus.QUEUED)
    assert counts(OPEN, SubmissionType.ALL)
    # While the competition is open an experiment shows public-row scores: it counts too...
    assert counts(OPEN, SubmissionType.EXPERIMENT)
    assert counts(NO_SPLIT, SubmissionType.EXPERIMENT)
    # ...except for those who manage the playground (they hold the labels), and after the close.
    assert not counts(OPEN, SubmissionType.EXPERIMENT, manages=True)
    assert counts(OPEN, SubmissionType.COMPETITION, manages=True)
    assert not counts(CLOSED, SubmissionType.EXPERIMENT)
    assert not counts(OPEN, SubmissionType.COMPETITION, SubmissionStatus.FAILED)
    assert set(rules.COUNTED) == set(SubmissionStatus) - {SubmissionStatus.FAILED}
    assert rules.needs_quota(OPEN, SubmissionType.EXPERIMENT, manages=False, now=NOW)
    assert not rules.needs_quota(PAST_DEADLINE, SubmissionType.EXPERIMENT, manages=False, now=NOW)


def test_the_quota_and_its_limit():
    q = rules.quota(OPEN, 1, NOW)
    assert (q.limit, q.used, q.remaining) == (3, 1, 2)
    assert q.resets_at == datetime(2026, 5, 18, tzinfo=UTC)
    assert rules.quota(OPEN, 7, NOW).remaining == 0
    rules.check_quota(OPEN, 2, NOW, "iris")
    with pytest.raises(QuotaExceeded, match="all 3 submissions for today on 'iris'"):
        rules.check_quota(OPEN, 3, NOW, "iris")


def test_competition_entries_after_the_close_are_refused_and_the_standing_is_frozen():
    for competition in (CLOSED, PAST_DEADLINE):
        for stype in (SubmissionType.COMPETITION, SubmissionType.ALL):
            with pytest.raises(CompetitionClosed, match="no longer accepted"):
                rules.check_accepts(competition, stype, NOW, "iris")
        rules.check_accepts(competition, SubmissionType.EXPERIMENT, NOW, "iris")
    rules.check_accepts(OPEN, SubmissionType.ALL, NOW, "iris")
    both = Competition(
        public_fraction=0.5, deadline=NOW - timedelta(hours=2), closed_at=NOW - timedelta(hours=1)
    )
    assert both.closes_at == NOW - timedelta(hours=2) and OPEN.closes_at is None
    assert rules.on_time(CLOSED, NOW - timedelta(hours=2)) and not rules.on_time(CLOSED, NOW)
    assert rules.on_time(OPEN, NOW)
    with pytest.raises(CompetitionClosed, match="can no longer change"):
        rules.check_deadline_change(CLOSED, NOW)
    rules.check_deadline_change(OPEN, NOW)


def test_participants_see_the_ranking_metric_rounded_while_the_competition_is_open():
    assert rules.restricted(OPEN, manages=False, now=NOW)
    assert not rules.restricted(OPEN, manages=True, now=NOW)
    assert not rules.restricted(CLOSED, manages=False, now=NOW)
    assert rules.shown_digits(OPEN, manages=False, now=NOW) == 4
    assert rules.shown_digits(OPEN, manages=True, now=NOW) is None
    assert rules.shown_digits(CLOSED, manages=False, now=NOW) is None
    assert rules.round_value(2916.123456, 4) == 2916.0 and rules.round_value(0.954545, 4) == 0.9545
    assert rules.round_value(-1.23456e-7, 3) == -1.23e-7 and rules.round_value(0, 4) == 0.0
    assert rules.round_value(None, 4) is None and rules.round_value(True, 4) is True
    assert rules.round_value(0.123456789, None) == 0.123456789
    scores = {"public": {"rmse": 54.123456, "r2": 0.4321987, "mae": 40.5}, "private": {"rmse": 60.0}}
    intervals = {"public": [50.111111, 58.999999]}
    shown, shown_ci = rules.visible_scores(OPEN, scores, intervals, metric="rmse", manages=False, now=NOW)
    # One number of four digits per submission: the other metrics and the interval carry more.
    assert shown == {"public": {"rmse": 54.12}} and shown_ci == {}
    full = Competition(public_fraction=0.5, score_digits=None)
    shown, _ = rules.visible_scores(full, scores, intervals, metric="rmse", manages=False, now=NOW)
    assert shown == {"public": {"rmse": 54.123456}}
    owner = rules.visible_scores(OPEN, scores, intervals, metric="rmse", manages=True, now=NOW)
    assert owner == (scores, intervals)


def test_files_are_the_submitters_until_the_close():
    assert rules.may_download(OPEN, is_submitter=True, manages=False, now=NOW)
    assert rules.may_download(OPEN, is_submitter=False, manages=True, now=NOW)
    assert not rules.may_download(OPEN, is_submitter=False, manages=False, now=NOW)
    assert rules.may_download(CLOSED, is_submitter=False, manages=False, now=NOW)


# --- entrants, teams and final selections ------------------------------------------------------

E = rules.Entry


def test_days_so_far_count_the_start_day_and_today():
    started = Competition(public_fraction=0.5, start=NOW.replace(hour=23, minute=59))
    assert rules.days_so_far(started, NOW) == 1
    assert rules.days_so_far(started, NOW + timedelta(hours=9)) == 2  # past midnight UTC
    assert rules.days_so_far(Competition(public_fraction=0.5, start=NOW - timedelta(days=6)), NOW) == 7


def test_joining_needs_room_and_a_merge_within_the_limit():
    three_days = Competition(
        public_fraction=0.5, daily_limit=2, team_size_limit=3, start=NOW - timedelta(days=2)
    )
    rules.check_join(three_days, team_size=2, team_entries=3, joiner_entries=3, now=NOW)  # 6 <= 2 x 3
    with pytest.raises(LimitReached, match="7 entries, more than the 6"):
        rules.check_join(three_days, team_size=2, team_entries=4, joiner_entries=3, now=NOW)
    with pytest.raises(LimitReached, match="at most 3 members"):
        rules.check_join(three_days, team_size=3, team_entries=0, joiner_entries=0, now=NOW)
    with pytest.raises(CompetitionClosed):
        rules.check_join(CLOSED, team_size=1, team_entries=0, joiner_entries=0, now=NOW)
    with pytest.raises(PermissionDenied, match="cannot be split"):
        rules.check_leave(OPEN, own_entries=1, now=NOW)
    rules.check_leave(OPEN, own_entries=0, now=NOW)


def test_selections_are_few_own_scored_entries_before_the_close():
    rules.check_selection(OPEN, [3, 5], {3, 5, 8}, NOW)
    with pytest.raises(LimitReached, match="at most 2"):
        rules.check_selection(OPEN, [3, 5, 8], {3, 5, 8}, NOW)
    with pytest.raises(InvalidSpec, match=r"\[9\] cannot be final"):
        rules.check_selection(OPEN, [9], {3}, NOW)
    with pytest.raises(InvalidSpec, match="twice"):
        rules.check_selection(OPEN, [3, 3], {3}, NOW)
    with pytest.raises(CompetitionClosed):
        rules.check_selection(CLOSED, [3], {3}, NOW)


def test_the_standing_takes_finals_after_the_close_and_the_best_public_entry_before():
    entries = [
        E(1, "user:1", public=0.99, private=0.50),  # overfit: best public, poor private
        E(2, "user:1", public=0.90, private=0.95),
        E(3, "user:1", public=0.80, private=0.99),  # best private, but third on public
        E(4, "team:7", public=0.70, private=0.60, selected=True),
        E(5, "team:7", public=0.95, private=0.97),
    ]
    assert rules.representatives(OPEN, entries, higher_is_better=True, now=NOW) == {"user:1": 1, "team:7": 5}
    # Closed: user 1 chose nothing, so its best two public entries (1, 2) count, and 2 wins on
    # private; entry 3 is not among them. Team 7 chose entry 4: that is what it stands by.
    assert rules.representatives(CLOSED, entries, higher_is_better=True, now=NOW) == {
        "user:1": 2,
        "team:7": 4,
    }
    assert [e.version for e in rules.finals(entries[:3], 2, higher_is_better=True)] == [1, 2]
    errors = [E(1, "u", public=3.0, private=1.0), E(2, "u", public=2.0, private=5.0), E(3, "u", None, None)]
    assert [e.version for e in rules.finals(errors, 1, higher_is_better=False)] == [2]  # lower is better
    assert rules.representatives(CLOSED, errors, higher_is_better=False, now=NOW) == {"u": 1}
