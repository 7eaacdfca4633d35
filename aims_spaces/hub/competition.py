"""The competition's rules, in one room: pure functions of plain values, no database, no server.

A playground's eval rows are split once, at creation, into *public* rows (they score the public
board while the competition runs) and *private* rows (they decide the final standing). The
rules:

- **Open or closed.** Closed once the owner closes it or its deadline has passed.
- **Who sees which split, when.** Before the close only those who manage the playground see
  private-row scores; everyone else sees public-row scores only. The all-rows score is hidden
  with the private one: with the public score beside it, it would give the private one away.
- **Which rows rank which board.** The competition board ranks on the public rows until the
  close, then on the private rows. The experiment board shows and ranks what the viewer may see.
- **Quotas.** Each participant has ``daily_limit`` competition submissions per UTC day
  (``competition`` and ``all`` submissions count, failed ones do not).

Callers pass ``now`` (timezone-aware UTC) and whether the viewer manages the playground; the
services read both from the registry and the access rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from ..domain import Board, QuotaInfo, Split, SubmissionStatus, SubmissionType
from ..errors import InvalidEvalData, InvalidSpec, QuotaExceeded

# Submission types that take part in the competition (and count toward its quota).
COMPETING = (SubmissionType.COMPETITION, SubmissionType.ALL)
# States of a submission that use up a quota entry: a failed evaluation gives it back.
COUNTED = (SubmissionStatus.QUEUED, SubmissionStatus.RUNNING, SubmissionStatus.SCORED)


@dataclass(frozen=True)
class Competition:
    """A playground's competition settings, as plain values."""

    public_fraction: float
    deadline: datetime | None = None
    closed_at: datetime | None = None
    daily_limit: int = 5

    @property
    def has_split(self) -> bool:
        """Whether the eval rows are split into public and private ones (public_fraction < 1)."""
        return self.public_fraction < 1.0

    def is_closed(self, now: datetime) -> bool:
        if self.closed_at is not None:
            return True
        return self.deadline is not None and self.deadline <= now


@dataclass(frozen=True)
class BoardView:
    """For one viewer of one board: the rows its scores are computed on, the rows it is ranked
    on, and whether private-row scores are shown beside them."""

    shown: Split
    ranked: Split
    shows_private: bool


def as_utc(value: datetime | None) -> datetime | None:
    """A timezone-aware UTC datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_public_fraction(value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise InvalidSpec(f"public_fraction must be in (0, 1], got {value}")
    return float(value)


def check_daily_limit(value: int) -> int:
    if value < 1:
        raise InvalidSpec(f"daily_submission_limit must be at least 1, got {value}")
    return value


def split_rows(n: int, public_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """The secret public/private split of ``n`` eval rows: True marks a public row. With a split,
    each side gets at least one row."""
    is_public = np.ones(n, dtype=bool)
    if public_fraction >= 1.0:
        return is_public
    if n < 2:
        raise InvalidEvalData("a competition split needs at least two eval rows")
    n_public = min(max(round(n * public_fraction), 1), n - 1)
    is_public[:] = False
    is_public[rng.permutation(n)[:n_public]] = True
    return is_public


def sees_private_scores(competition: Competition, *, manages: bool, now: datetime) -> bool:
    """Private-row scores are for those who manage the playground, and for everyone after the close."""
    return manages or competition.is_closed(now)


def board_view(competition: Competition, board: Board, *, manages: bool, now: datetime) -> BoardView:
    if not competition.has_split:
        return BoardView(Split.ALL, Split.ALL, False)
    shows_private = sees_private_scores(competition, manages=manages, now=now)
    if board is Board.COMPETITION:
        ranked = Split.PRIVATE if competition.is_closed(now) else Split.PUBLIC
        return BoardView(Split.PUBLIC, ranked, shows_private)
    # The experiment board shows all-rows scores only to those allowed to see private ones:
    # otherwise all-rows and public-rows scores together would reveal the private score.
    shown = Split.ALL if shows_private else Split.PUBLIC
    return BoardView(shown, shown, False)


def board_types(board: Board) -> tuple[SubmissionType, ...]:
    """The submission types a board lists."""
    if board is Board.COMPETITION:
        return COMPETING
    return (SubmissionType.EXPERIMENT, SubmissionType.ALL)


def visible_scores(
    competition: Competition,
    scores: dict[str, Any],
    intervals: dict[str, Any],
    *,
    manages: bool,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scores and intervals (by split) a viewer may see of one submission."""
    scores, intervals = dict(scores), dict(intervals)
    if competition.has_split and not sees_private_scores(competition, manages=manages, now=now):
        for split in (Split.PRIVATE.value, Split.ALL.value):
            scores.pop(split, None)
            intervals.pop(split, None)
    return scores, intervals


def day_window(now: datetime) -> tuple[datetime, datetime]:
    """The UTC day ``now`` falls in: the window a daily quota counts over."""
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def counts_toward_quota(submission_type: SubmissionType, status: SubmissionStatus) -> bool:
    """Whether a submission uses up one of the day's entries (the registry query counts the
    same two sets, :data:`COMPETING` and :data:`COUNTED`)."""
    return submission_type in COMPETING and status in COUNTED


def quota(competition: Competition, used: int, now: datetime) -> QuotaInfo:
    """``used`` competition submissions today (see :func:`counts_toward_quota`) against the limit."""
    _, resets_at = day_window(now)
    limit = competition.daily_limit
    return QuotaInfo(limit=limit, used=used, remaining=max(limit - used, 0), resets_at=resets_at)


def check_quota(competition: Competition, used: int, now: datetime, playground: str) -> None:
    """Raise :class:`QuotaExceeded` when one more competition submission today is too many."""
    q = quota(competition, used, now)
    if q.remaining <= 0:
        raise QuotaExceeded(
            f"you have used all {q.limit} competition submissions for today on {playground!r}; "
            f"more are allowed from {q.resets_at.isoformat()}"
        )
