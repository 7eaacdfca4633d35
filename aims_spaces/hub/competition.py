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
- **On time or refused.** A competition (or ``all``) submission after the close or the deadline
  is refused, so the private standing is frozen at the close: it lists only submissions made
  before it. Experiments stay open.
- **Quotas.** Each participant has ``daily_limit`` scored submissions per UTC day while the
  competition is open: ``competition`` and ``all`` submissions always count, and so do
  experiments, because their public-row scores would otherwise let a participant probe the
  labels without limit (those who manage the playground excepted: they hold the labels).
  Failed evaluations give their entry back. After the close, experiments are unlimited.
- **What a participant sees while it is open.** The ranking metric only, on the public rows,
  rounded to ``score_digits`` significant digits (boards rank on those rounded values), and no
  bootstrap interval: one scored submission reveals one number of a few digits about the public
  labels. Every metric, interval and digit is shown after the close, and always to those who
  manage the playground.
- **Artifacts.** Until the close a submission's files (model, original, preprocessor) are for
  its submitter's team and those who manage the playground; afterwards for everyone who may read.
- **Entrants and teams.** A competitor is an *entrant*: a team, or a participant in none. A
  submission belongs to the submitter's team at the time; the quota is the entrant's (one
  team, one day's entries). Teams hold at most ``team_size_limit`` members. A participant who
  joins a team brings their entries along, so a merge is refused when the merged team would
  hold more entries than the limit allows for the days so far (``daily_limit`` × days since the
  start). A member may leave a team while none of its entries are theirs.
- **Final selections.** Before the close each entrant marks up to ``final_selections`` of its
  scored competition entries as final. The private standing ranks each entrant by the best
  private score among its final entries; an entrant who chose none is judged by its best
  ``final_selections`` public-row entries (Kaggle's rule), so fifty noisy entries do not buy
  fifty draws of the private score.
- **The competition board.** One row per entrant, its best entry: on the public rows while the
  competition is open, on the private rows of its final entries after the close.

Callers pass ``now`` (timezone-aware UTC) and whether the viewer manages the playground; the
services read both from the registry and the access rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from ..domain import Board, QuotaInfo, Split, SubmissionStatus, SubmissionType
from ..errors import (
    CompetitionClosed,
    InvalidEvalData,
    InvalidSpec,
    LimitReached,
    PermissionDenied,
    QuotaExceeded,
)

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
    score_digits: int | None = 4  # significant digits shown while open; None: full precision
    start: datetime | None = None  # when entries began to count (the playground's creation)
    final_selections: int = 2
    team_size_limit: int = 4

    @property
    def has_split(self) -> bool:
        """Whether the eval rows are split into public and private ones (public_fraction < 1)."""
        return self.public_fraction < 1.0

    def is_closed(self, now: datetime) -> bool:
        if self.closed_at is not None:
            return True
        return self.deadline is not None and self.deadline <= now

    @property
    def closes_at(self) -> datetime | None:
        """When it closed or will close: the earlier of the owner's close and the deadline."""
        times = [t for t in (self.closed_at, self.deadline) if t is not None]
        return min(times) if times else None


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


MAX_DAILY_LIMIT = 10_000


def check_daily_limit(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(f"daily_submission_limit must be a whole number, got {value!r}")
    if not 1 <= value <= MAX_DAILY_LIMIT:
        raise InvalidSpec(f"daily_submission_limit must be between 1 and {MAX_DAILY_LIMIT:,}, got {value}")
    return value


MAX_FINAL_SELECTIONS = 100
MAX_TEAM_SIZE = 1_000


def check_final_selections(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(f"final_selections must be a whole number, got {value!r}")
    if not 1 <= value <= MAX_FINAL_SELECTIONS:
        raise InvalidSpec(f"final_selections must be between 1 and {MAX_FINAL_SELECTIONS}, got {value}")
    return value


def check_team_size_limit(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(f"team_size_limit must be a whole number, got {value!r}")
    if not 1 <= value <= MAX_TEAM_SIZE:
        raise InvalidSpec(f"team_size_limit must be between 1 (no teams) and {MAX_TEAM_SIZE:,}, got {value}")
    return value


def check_deadline_change(competition: Competition, now: datetime) -> None:
    """A closed competition stays closed: its private standing is final."""
    if competition.is_closed(now):
        raise CompetitionClosed(
            f"the competition closed at {_when(competition.closes_at)}; its deadline can no longer change"
        )


def check_accepts(
    competition: Competition, submission_type: SubmissionType, now: datetime, playground: str
) -> None:
    """Refuse a competition (or ``all``) submission once the competition has closed."""
    if submission_type in COMPETING and competition.is_closed(now):
        raise CompetitionClosed(
            f"the competition on {playground!r} closed at {_when(competition.closes_at)}; "
            "submissions to it are no longer accepted (submit with submission_type='experiment')"
        )


def on_time(competition: Competition, created_at: datetime) -> bool:
    """Whether a submission made at ``created_at`` was before the close (the frozen standing)."""
    closes = competition.closes_at
    return closes is None or created_at < closes


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "an unknown time"


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


def restricted(competition: Competition, *, manages: bool, now: datetime) -> bool:
    """Whether a viewer sees the restricted view: a participant while the competition is open
    (the ranking metric only, rounded, no interval)."""
    return not manages and not competition.is_closed(now)


def shown_digits(competition: Competition, *, manages: bool, now: datetime) -> int | None:
    """Significant digits of the scores a viewer sees: rounded while the competition is open
    (for everyone but those who manage it), full precision after the close."""
    if not restricted(competition, manages=manages, now=now):
        return None
    return competition.score_digits


def round_value(value: Any, digits: int | None) -> Any:
    """``value`` rounded to ``digits`` significant digits (non-numbers and None pass through)."""
    if digits is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits}g}")


def round_scores(scores: dict[str, Any], digits: int | None) -> dict[str, Any]:
    """Metric → value, each rounded (see :func:`round_value`)."""
    if digits is None:
        return scores
    return {k: round_value(v, digits) for k, v in scores.items()}


def round_interval(interval: list[Any] | None, digits: int | None) -> list[Any] | None:
    if digits is None or interval is None:
        return interval
    return [round_value(v, digits) for v in interval]


def shown_scores(
    values: dict[str, Any], metric: str, *, restricted_view: bool, digits: int | None
) -> dict[str, Any]:
    """Metric → value of one split as shown: in the restricted view, the ranking metric alone,
    rounded."""
    if not restricted_view:
        return values
    return round_scores({metric: values[metric]} if metric in values else {}, digits)


def visible_scores(
    competition: Competition,
    scores: dict[str, Any],
    intervals: dict[str, Any],
    *,
    metric: str,
    manages: bool,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scores and intervals (by split) a viewer may see of one submission: no private or
    all-rows scores before the close (unless the viewer manages the playground), and the
    restricted view (:func:`restricted`) while the competition is open."""
    scores, intervals = dict(scores), dict(intervals)
    if competition.has_split and not sees_private_scores(competition, manages=manages, now=now):
        for split in (Split.PRIVATE.value, Split.ALL.value):
            scores.pop(split, None)
            intervals.pop(split, None)
    if restricted(competition, manages=manages, now=now):
        digits = competition.score_digits
        scores = {
            split: shown_scores(values or {}, metric, restricted_view=True, digits=digits)
            for split, values in scores.items()
        }
        intervals = {}
    return scores, intervals


def may_download(competition: Competition, *, is_submitter: bool, manages: bool, now: datetime) -> bool:
    """A submission's files are for its submitter and those who manage the playground until the
    close (so nobody resubmits the leader's model), then for every reader."""
    return is_submitter or manages or competition.is_closed(now)


def day_window(now: datetime) -> tuple[datetime, datetime]:
    """The UTC day ``now`` falls in: the window a daily quota counts over."""
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def counted_types(competition: Competition, *, manages: bool, now: datetime) -> tuple[SubmissionType, ...]:
    """The submission types that use up the day's entries for this participant: the competing
    ones always; experiments too while the competition is open, since their public-row scores
    are as informative as a competition entry's (those who manage the playground excepted)."""
    if manages or competition.is_closed(now):
        return COMPETING
    return tuple(SubmissionType)


def counts_toward_quota(
    competition: Competition,
    submission_type: SubmissionType,
    status: SubmissionStatus,
    *,
    manages: bool,
    now: datetime,
) -> bool:
    """Whether a submission uses up one of the day's entries (the registry query counts the
    same sets, :func:`counted_types` and :data:`COUNTED`)."""
    return submission_type in counted_types(competition, manages=manages, now=now) and status in COUNTED


def needs_quota(
    competition: Competition, submission_type: SubmissionType, *, manages: bool, now: datetime
) -> bool:
    """Whether a new submission of this type must fit in the day's quota."""
    return submission_type in counted_types(competition, manages=manages, now=now)


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
            f"you have used all {q.limit} submissions for today on {playground!r} (while its "
            f"competition is open, experiments count too); more are allowed from "
            f"{q.resets_at.isoformat(timespec='seconds')}"
        )


# --- entrants, teams and final selections -----------------------------------------------------


def check_open(competition: Competition, now: datetime, what: str) -> None:
    """Refuse a change to the competition's entrants or selections once it has closed."""
    if competition.is_closed(now):
        raise CompetitionClosed(
            f"the competition closed at {_when(competition.closes_at)}; {what} can no longer change"
        )


def days_so_far(competition: Competition, now: datetime) -> int:
    """UTC days the competition has run, counting the start's day and today."""
    if competition.start is None:
        return 1
    first, _ = day_window(competition.start)
    today, _ = day_window(now)
    return max((today - first).days + 1, 1)


def check_join(
    competition: Competition, *, team_size: int, team_entries: int, joiner_entries: int, now: datetime
) -> None:
    """A participant may join a team while the competition is open, when the team has room and
    the merged entries fit in what the daily limit allows for the days so far."""
    check_open(competition, now, "teams")
    if competition.team_size_limit <= 1:
        raise InvalidSpec("this competition is for individuals: its team size limit is 1")
    if team_size >= competition.team_size_limit:
        raise LimitReached(f"the team is full: a team holds at most {competition.team_size_limit} members")
    allowed = competition.daily_limit * days_so_far(competition, now)
    if team_entries + joiner_entries > allowed:
        raise LimitReached(
            f"merging would give the team {team_entries + joiner_entries} entries, more than the "
            f"{allowed} the daily limit of {competition.daily_limit} allows for the "
            f"{days_so_far(competition, now)} day(s) so far"
        )


def check_leave(competition: Competition, *, own_entries: int, now: datetime) -> None:
    """A member may leave a team while the competition is open and none of its entries are theirs
    (a team's record cannot be split, as on Kaggle)."""
    check_open(competition, now, "teams")
    if own_entries:
        raise PermissionDenied(
            f"you made {own_entries} of this team's entries (or brought them when you joined): "
            "a team's record cannot be split, so you cannot leave it"
        )


@dataclass(frozen=True)
class Entry:
    """One scored, on-time competition entry, as the standing needs it."""

    version: int
    entrant: str  # "team:<id>" or "user:<id>"
    public: float | None  # the ranking metric on the public rows (as the viewer sees it)
    private: float | None  # the ranking metric on the private rows
    selected: bool = False


def check_selection(competition: Competition, versions: list[int], eligible: set[int], now: datetime) -> None:
    """An entrant selects up to ``final_selections`` of its own scored competition entries,
    before the close."""
    check_open(competition, now, "final selections")
    if len(set(versions)) != len(versions):
        raise InvalidSpec("a version is selected twice")
    if len(versions) > competition.final_selections:
        raise LimitReached(
            f"{len(versions)} entries selected; this competition takes at most "
            f"{competition.final_selections} final entries per team or participant"
        )
    strangers = sorted(set(versions) - eligible)
    if strangers:
        raise InvalidSpec(
            f"version(s) {strangers} cannot be final: only your (or your team's) scored "
            "competition entries can"
        )


def _order(value: float | None, higher_is_better: bool, version: int) -> tuple[bool, float, int]:
    return (value is None, (-value if higher_is_better else value) if value is not None else 0.0, version)


def finals(entries: list[Entry], n: int, higher_is_better: bool) -> list[Entry]:
    """An entrant's final entries: the selected ones, or without a selection its best ``n`` on
    the public rows."""
    chosen = [e for e in entries if e.selected]
    if chosen:
        return chosen
    return sorted(entries, key=lambda e: _order(e.public, higher_is_better, e.version))[:n]


def representatives(
    competition: Competition, entries: list[Entry], *, higher_is_better: bool, now: datetime
) -> dict[str, int]:
    """Entrant → the version that stands for it on the competition board: its best public entry
    while the competition is open; after the close, its best private entry among its finals."""
    by_entrant: dict[str, list[Entry]] = {}
    for e in entries:
        by_entrant.setdefault(e.entrant, []).append(e)
    closed = competition.is_closed(now) and competition.has_split
    out = {}
    for entrant, mine in by_entrant.items():
        if closed:
            pool = finals(mine, competition.final_selections, higher_is_better)
            best = min(pool, key=lambda e: _order(e.private, higher_is_better, e.version))
        else:
            best = min(mine, key=lambda e: _order(e.public, higher_is_better, e.version))
        out[entrant] = best.version
    return out
