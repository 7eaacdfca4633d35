"""Leaderboards: scored submissions ranked by the playground's metric.

Ranking uses the playground's metric and its direction; ties go to the earlier version; rows
whose ranking score is undefined come last. The competition board ranks on the public rows
until the competition closes, then on the private rows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, null, select

from .access import Access, Caller
from .domain import (
    Board,
    Leaderboard,
    LeaderboardRow,
    Metric,
    Split,
    SubmissionStatus,
    SubmissionType,
    parse_enum,
)
from .playgrounds import Playgrounds, competition_closed, has_competition_split, sees_private_scores
from .registry import Playground, Registry, Submission, User


class Leaderboards:
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
            types = [SubmissionType.ALL.value]
            types.append(
                SubmissionType.EXPERIMENT.value
                if which is Board.EXPERIMENT
                else SubmissionType.COMPETITION.value
            )
            scored = (
                Submission.playground_id == pg.id,
                Submission.status == SubmissionStatus.SCORED.value,
                Submission.submission_type.in_(types),
            )
            key = (pg.id, pg.created_at, which, board_split(pg, which, caller), metadata)
            stamp = tuple(
                s.connection()
                .execute(
                    select(func.count(), func.max(Submission.id), func.max(Submission.scored_at)).where(
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
                    Submission.custom_metadata,
                )
            rows = (
                s.connection()
                .execute(
                    select(*columns, User.username)
                    .join(User, User.id == Submission.user_id)
                    .where(*scored)
                    .order_by(Submission.version)
                )
                .all()
            )
            result = build(pg, which, rows, caller)
        with self._lock:
            self._cache[key] = (stamp, result)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result


def board_split(pg: Playground, board: Board, caller: Caller | None) -> tuple[Split, Split, bool]:
    """For ``caller``: the rows a board's scores are computed on, the rows it is ranked on, and
    whether private-row scores are shown beside them."""
    if not has_competition_split(pg):
        return Split.ALL, Split.ALL, False
    shows_private = sees_private_scores(pg, caller)
    if board is Board.COMPETITION:
        ranked = Split.PRIVATE if competition_closed(pg) else Split.PUBLIC
        return Split.PUBLIC, ranked, shows_private
    # The experiment board shows all-rows scores only to those allowed to see private ones:
    # otherwise all-rows and public-rows scores together would reveal the private score.
    shown = Split.ALL if shows_private else Split.PUBLIC
    return shown, shown, False


def build(pg: Playground, board: Board, subs: Sequence[Any], caller: Caller | None) -> Leaderboard:
    """Rank ``subs`` (rows with the columns of ``_BOARD_COLUMNS`` and ``username``)."""
    metric = Metric(pg.eval_metric)
    shown, ranked, shows_private = board_split(pg, board, caller)
    sign = -1.0 if metric.higher_is_better else 1.0
    metric_key, ranked_key, shown_key, private_key = (
        metric.value,
        ranked.value,
        shown.value,
        Split.PRIVATE.value,
    )
    types = {t.value: t for t in SubmissionType}

    def key(sub: Any) -> tuple[bool, float, int]:
        value = (sub.scores or {}).get(ranked_key, {}).get(metric_key)
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
                submission_type=types[sub.submission_type],
                created_at=sub.created_at,
                framework=sub.framework,
                model_type=sub.model_type,
                description=sub.description,
                scores=scores.get(shown_key, {}),
                interval=intervals.get(shown_key),
                private_scores=scores.get(private_key) if shows_private else None,
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
    Submission.version,
    Submission.submission_type,
    Submission.created_at,
    Submission.framework,
    Submission.model_type,
    Submission.description,
    Submission.scores,
    Submission.intervals,
    Submission.verified,
    Submission.mismatch_fraction,
    Submission.duplicate_of,
    Submission.model_metadata,
    Submission.onnx_metadata,
    Submission.custom_metadata,
)
