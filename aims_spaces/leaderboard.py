"""Leaderboards: scored submissions ranked by the playground's metric.

Ranking uses the playground's metric and its direction; ties go to the earlier version; rows
whose ranking score is undefined come last. The competition board ranks on the public rows
until the competition closes, then on the private rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

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
    def __init__(self, registry: Registry, playgrounds: Playgrounds) -> None:
        self.registry = registry
        self.playgrounds = playgrounds

    def get(self, caller: Caller | None, name: str, board: str = Board.EXPERIMENT.value) -> Leaderboard:
        which = parse_enum(Board, board, "board")
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.LEADERBOARD)
            types = [SubmissionType.ALL.value]
            types.append(
                SubmissionType.EXPERIMENT.value
                if which is Board.EXPERIMENT
                else SubmissionType.COMPETITION.value
            )
            rows = s.execute(
                select(Submission, User.username)
                .join(User, User.id == Submission.user_id)
                .where(
                    Submission.playground_id == pg.id,
                    Submission.status == SubmissionStatus.SCORED.value,
                    Submission.submission_type.in_(types),
                )
                .order_by(Submission.version)
            ).all()
            return build(pg, which, [(sub, username) for sub, username in rows], caller)


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


def build(
    pg: Playground, board: Board, subs: Sequence[tuple[Submission, str]], caller: Caller | None
) -> Leaderboard:
    metric = Metric(pg.eval_metric)
    shown, ranked, shows_private = board_split(pg, board, caller)
    sign = -1.0 if metric.higher_is_better else 1.0

    def key(item: tuple[Submission, str]) -> tuple[bool, float, int]:
        sub = item[0]
        value = (sub.scores or {}).get(ranked.value, {}).get(metric.value)
        return (value is None, sign * value if value is not None else 0.0, sub.version)

    rows = []
    for rank, (sub, username) in enumerate(sorted(subs, key=key), start=1):
        scores = sub.scores or {}
        intervals = sub.intervals or {}
        rows.append(
            LeaderboardRow(
                rank=rank,
                version=sub.version,
                username=username,
                submission_type=SubmissionType(sub.submission_type),
                created_at=sub.created_at,
                framework=sub.framework,
                model_type=sub.model_type,
                description=sub.description,
                scores=scores.get(shown.value, {}),
                interval=intervals.get(shown.value),
                private_scores=scores.get(Split.PRIVATE.value) if shows_private else None,
                private_interval=intervals.get(Split.PRIVATE.value) if shows_private else None,
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
