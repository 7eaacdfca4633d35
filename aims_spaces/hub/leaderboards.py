"""Leaderboards: scored submissions ranked by the playground's metric.

Ranking uses the playground's metric and its direction; ties go to the earlier version; rows
whose ranking score is undefined come last. Which rows score and rank a board for whom is
the competition's rule (:func:`aims_spaces.hub.competition.board_view`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, null, select

from ..domain import (
    Board,
    Leaderboard,
    LeaderboardRow,
    Metric,
    Split,
    SubmissionStatus,
    SubmissionType,
    parse_enum,
)
from . import competition
from .access import Access, Caller, can_manage
from .playgrounds import Playgrounds, shown_metrics
from .registry import PlaygroundRow, Registry, SubmissionRow, TeamRow, UserRow, utcnow


class Leaderboards:
    """The ranked boards of a playground as each caller may see them, cached per view while the
    playground's scored submissions are unchanged."""

    def __init__(self, registry: Registry, playgrounds: Playgrounds, cache_size: int = 64) -> None:
        self.registry = registry
        self.playgrounds = playgrounds
        # Built boards by (playground, board, view, metadata), reused while the playground's
        # scored submissions are unchanged: a 5,000-row board costs ~0.3 s to build, ~1 ms to check.
        self._cache: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Leaderboard]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def get(
        self, caller: Caller | None, name: str, board: str = Board.EXPERIMENT.value, *, metadata: bool = True
    ) -> Leaderboard:
        """The ranked board ``caller`` may see; ``metadata=False`` leaves out hyperparameters and
        ONNX facts (most of the bytes of a big board)."""
        which = parse_enum(Board, board, "board")
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.LEADERBOARD)
            rules, now, manages = self.playgrounds.rules(pg), utcnow(), can_manage(pg, caller)
            view = competition.board_view(rules, which, manages=manages, now=now)
            digits = competition.shown_digits(rules, manages=manages, now=now)
            limited = competition.restricted(rules, manages=manages, now=now)
            scored: tuple[Any, ...] = (
                SubmissionRow.playground_id == pg.id,
                SubmissionRow.status == SubmissionStatus.SCORED.value,
                SubmissionRow.submission_type.in_([t.value for t in competition.board_types(which)]),
            )
            closes_at = rules.closes_at
            if which is Board.COMPETITION and closes_at is not None:
                # The standing is frozen at the close: nothing submitted after it takes part.
                scored += (SubmissionRow.created_at < closes_at,)
            key = (
                pg.id,
                pg.created_at,
                pg.entrants_changed_at,
                pg.shown_metrics and tuple(pg.shown_metrics),
                which,
                view,
                digits,
                limited,
                closes_at,
                metadata,
            )
            stamp = tuple(
                s.connection()
                .execute(
                    select(func.count(), func.max(SubmissionRow.id), func.max(SubmissionRow.scored_at)).where(
                        *scored
                    )
                )
                .one()
            )
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None and hit[0] == stamp:
                    self._cache.move_to_end(key)
                    return hit[1]
            columns = _BOARD_COLUMNS
            if not metadata:
                columns = _BOARD_COLUMNS[:-3] + (
                    null().label("model_metadata"),
                    null().label("onnx_metadata"),
                    SubmissionRow.custom_metadata,
                )
            rows = (
                s.connection()
                .execute(
                    select(*columns, UserRow.username, TeamRow.name.label("team"))
                    .join(UserRow, UserRow.id == SubmissionRow.user_id)
                    .outerjoin(TeamRow, TeamRow.id == SubmissionRow.team_id)
                    .where(*scored)
                    .order_by(SubmissionRow.version)
                )
                .all()
            )
            if which is Board.COMPETITION:
                rows = standing(rules, Metric(pg.eval_metric), rows, view, digits, now)
            result = build(pg, which, rows, view, digits, restricted=limited)
            if pg.data_changes:
                rescoring = s.scalar(
                    select(func.count()).where(*scored, SubmissionRow.rescore_pending.is_(True))
                )
                result = result.model_copy(
                    update={
                        "data_changed_at": datetime.fromisoformat(pg.data_changes[-1]["at"]),
                        "rescoring": int(rescoring or 0),
                    }
                )
        with self._lock:
            self._cache[key] = (stamp, result)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result


def standing(
    rules: competition.Competition,
    metric: Metric,
    subs: Sequence[Any],
    view: competition.BoardView,
    digits: int | None,
    now: Any,
) -> list[Any]:
    """The competition board's rows: one per entrant (team, or participant in none), the entry
    that stands for it (:func:`competition.representatives`)."""
    public_key = Split.PUBLIC.value if rules.has_split else Split.ALL.value

    def value(sub: Any, split: str, rounded: int | None) -> float | None:
        return competition.round_value((sub.scores or {}).get(split, {}).get(metric.value), rounded)

    entries = [
        competition.Entry(
            version=sub.version,
            entrant=f"team:{sub.team_id}" if sub.team_id is not None else f"user:{sub.user_id}",
            public=value(sub, public_key, digits),
            private=value(sub, view.ranked.value, None),
            selected=bool(sub.selected),
        )
        for sub in subs
    ]
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.entrant] = counts.get(e.entrant, 0) + 1
    chosen = competition.representatives(rules, entries, higher_is_better=metric.higher_is_better, now=now)
    keep = set(chosen.values())
    by_version = {e.version: e.entrant for e in entries}
    return [_Standing(sub, counts[by_version[sub.version]]) for sub in subs if sub.version in keep]


class _Standing:
    """A board row's submission with the number of entries its entrant made."""

    def __init__(self, sub: Any, entries: int) -> None:
        self._sub = sub
        self.entries = entries

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sub, name)


def build(
    pg: PlaygroundRow,
    board: Board,
    subs: Sequence[Any],
    view: competition.BoardView,
    digits: int | None = None,
    *,
    restricted: bool = False,
) -> Leaderboard:
    """Rank ``subs`` (rows with the columns of ``_BOARD_COLUMNS`` and ``username``) as ``view``
    says, on scores rounded to ``digits`` significant digits (ranked on what is shown, so the
    order of equal-looking rows gives nothing away); ``restricted``: the ranking metric only and
    no interval (a participant while the competition is open)."""
    metric = Metric(pg.eval_metric)
    shown, ranked, shows_private = view.shown, view.ranked, view.shows_private
    sign = -1.0 if metric.higher_is_better else 1.0
    metric_key, ranked_key, shown_key, private_key = (
        metric.value,
        ranked.value,
        shown.value,
        Split.PRIVATE.value,
    )
    types = {t.value: t for t in SubmissionType}
    columns = [m.value for m in shown_metrics(pg)]

    def only_shown(values: dict[str, Any] | None) -> dict[str, Any] | None:
        # Every applicable metric is kept; the board shows the playground's chosen columns, in order.
        if values is None:
            return None
        return {m: values[m] for m in columns if m in values}

    def key(sub: Any) -> tuple[bool, float, int]:
        value = competition.round_value((sub.scores or {}).get(ranked_key, {}).get(metric_key), digits)
        return (value is None, sign * value if value is not None else 0.0, sub.version)

    rows = []
    for rank, sub in enumerate(sorted(subs, key=key), start=1):
        scores = sub.scores or {}
        intervals = sub.intervals or {}
        rows.append(
            LeaderboardRow(
                rank=rank,
                version=sub.version,
                username=sub.username,
                team=sub.team,
                entries=getattr(sub, "entries", None),
                submission_type=types[sub.submission_type],
                created_at=sub.created_at,
                framework=sub.framework,
                model_type=sub.model_type,
                description=sub.description,
                scores=only_shown(
                    competition.shown_scores(
                        scores.get(shown_key, {}), metric_key, restricted_view=restricted, digits=digits
                    )
                )
                or {},
                interval=None if restricted else competition.round_interval(intervals.get(shown_key), digits),
                private_scores=only_shown(scores.get(private_key)) if shows_private else None,
                private_interval=intervals.get(private_key) if shows_private else None,
                verified=sub.verified,
                mismatch_fraction=sub.mismatch_fraction,
                duplicate_of=sub.duplicate_of,
                metadata=sub.model_metadata or {},
                custom_metadata=sub.custom_metadata or {},
                onnx_metadata=sub.onnx_metadata or {},
            )
        )
    return Leaderboard(
        playground=pg.name,
        board=board,
        metric=metric,
        higher_is_better=metric.higher_is_better,
        scored_on=shown,
        ranked_on=ranked,
        shows_private=shows_private,
        rows=rows,
    )


# What a board needs of a submission (selecting columns, not entities, keeps big boards fast).
_BOARD_COLUMNS = (
    SubmissionRow.version,
    SubmissionRow.user_id,
    SubmissionRow.team_id,
    SubmissionRow.selected,
    SubmissionRow.submission_type,
    SubmissionRow.created_at,
    SubmissionRow.framework,
    SubmissionRow.model_type,
    SubmissionRow.description,
    SubmissionRow.scores,
    SubmissionRow.intervals,
    SubmissionRow.verified,
    SubmissionRow.mismatch_fraction,
    SubmissionRow.duplicate_of,
    SubmissionRow.model_metadata,
    SubmissionRow.onnx_metadata,
    SubmissionRow.custom_metadata,
)
