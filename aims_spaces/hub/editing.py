"""What an owner changes after creating a playground: its pages, its visibility, its ranking
metric (before the competition starts) and its eval data (labels, features, example rows).

A change to the labels, the features or the ranking metric has every scored submission scored
again by the evaluators; their old scores stand until the new ones arrive, the change is recorded
with when and by whom (``PlaygroundInfo.data_changes``), and the boards say when. The class list
stays as it is (submitted models answer in its order); new labels must use its classes.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from ..core.media import frame_for
from ..core.tabular import check_columns, clean_labels, clean_targets
from ..domain import Metric, PlaygroundInfo, SubmissionStatus, TaskType, check_text, parse_enum
from ..errors import CompetitionClosed, InvalidEvalData, InvalidSpec
from . import competition
from .access import Access, Caller
from .evaldata import EvalDataRepo
from .leftovers import EVAL_DATA
from .playgrounds import MAX_DESCRIPTION, Playgrounds, check_shown_metrics
from .registry import Registry, SubmissionRow, utcnow
from .submissions import Submissions

log = logging.getLogger(__name__)

PAGES = ("data", "evaluation", "rules")  # the overview page is the playground's description
MAX_CHANGES = 100


class Editing:
    """Change a playground after its creation (owner and co-owners)."""

    def __init__(
        self, registry: Registry, playgrounds: Playgrounds, submissions: Submissions, evaldata: EvalDataRepo
    ) -> None:
        self.registry = registry
        self.playgrounds = playgrounds
        self.submissions = submissions
        self.evaldata = evaldata

    def update(
        self,
        caller: Caller | None,
        name: str,
        *,
        description: str | None = None,
        pages: dict[str, str] | None = None,
        private: bool | None = None,
        eval_metric: str | None = None,
        shown_metrics: list[str] | None = None,
    ) -> PlaygroundInfo:
        """Change the overview (``description``), the other pages, visibility, the ranking metric
        (before the competition starts) or the board's metric columns. Fields left None stay."""
        if description is not None:
            check_text(description, "description", max_length=MAX_DESCRIPTION, multiline=True)
        if pages is not None:
            if not isinstance(pages, dict) or set(pages) - set(PAGES):
                raise InvalidSpec(f"pages are {list(PAGES)} (the overview is the description)")
            for key, text in pages.items():
                check_text(text, f"the {key} page", max_length=MAX_DESCRIPTION, multiline=True)
        if private is not None and not isinstance(private, bool):
            raise InvalidSpec("private must be true or false")
        jobs = []
        access_changed = False
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.MANAGE)
            assert caller is not None
            task = TaskType(pg.task_type)
            if description is not None:
                pg.description = description
            if pages is not None:
                pg.pages = {**(pg.pages or {}), **{k: v for k, v in pages.items()}}
            if private is not None and private != pg.private:
                pg.private = private
                access_changed = True
            ranking = Metric(pg.eval_metric)
            if eval_metric is not None and eval_metric != pg.eval_metric:
                ranking = parse_enum(Metric, eval_metric, "eval_metric")
                if ranking.task_type is not task:
                    raise InvalidSpec(f"eval_metric {ranking.value!r} does not apply to {task.value}")
                now = utcnow()
                started = (pg.competition_start or pg.created_at) <= now
                entered = s.scalar(
                    select(func.count())
                    .select_from(SubmissionRow)
                    .where(
                        SubmissionRow.playground_id == pg.id,
                        SubmissionRow.submission_type.in_([t.value for t in competition.COMPETING]),
                        SubmissionRow.status != SubmissionStatus.FAILED.value,
                    )
                )
                if started and entered:
                    raise CompetitionClosed(
                        "the ranking metric can change only before the competition starts (it has "
                        f"{entered} entries); make a new playground to rank by another metric"
                    )
                pg.eval_metric = ranking.value
                _record(pg, caller, f"ranking metric → {ranking.value}")
                jobs = self.submissions.rescore(s, pg)  # intervals are for the ranking metric
            if shown_metrics is not None or (eval_metric is not None and pg.shown_metrics):
                pg.shown_metrics = check_shown_metrics(
                    task, ranking, shown_metrics if shown_metrics is not None else pg.shown_metrics
                )
            pg.entrants_changed_at = utcnow()  # cached boards of this playground are stale
            s.flush()
            info = self.playgrounds.info(s, pg, caller)
        self.submissions.send(jobs)
        if access_changed:
            self.playgrounds.access_changed(name)
        return info

    def replace_data(
        self,
        caller: Caller | None,
        name: str,
        *,
        eval_labels: Any = None,
        eval_features: pd.DataFrame | None = None,
        example_data: pd.DataFrame | None = None,
    ) -> PlaygroundInfo:
        """Replace the eval labels, the eval features and/or the example rows. New labels or
        features have every scored submission scored again. The rows keep their public/private
        split when their number stays; a new number of rows is split anew."""
        if eval_labels is None and eval_features is None and example_data is None:
            raise InvalidSpec("give new eval labels, eval features or example data")
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.MANAGE)
            pg_id, old_id, signature, n = pg.id, pg.eval_data_id, pg.signature, pg.n_eval_rows
            public_fraction, has_features = pg.public_fraction, pg.has_eval_features
        limits = self.playgrounds.settings.decode_limits
        as_frame = frame_for(signature.input_type, limits=limits)
        old = self.evaldata.labels(old_id)
        labels = old.labels
        if eval_labels is not None:
            if signature.classification:
                labels = clean_labels(eval_labels, "eval labels")
                unknown = sorted({str(v) for v in labels} - {str(c) for c in signature.classes or []})
                if unknown:
                    raise InvalidEvalData(
                        f"the new labels hold classes the playground does not know: {unknown[:10]}; "
                        "the class list stays (submitted models answer in its order)"
                    )
                known = {str(c): c for c in signature.classes or []}
                labels = np.array([known[str(v)] for v in labels], dtype=object)
            else:
                labels = clean_targets(eval_labels, "eval labels")
        features = self.evaldata.features(old_id)
        if eval_features is not None:
            features = as_frame(eval_features, "eval_features", InvalidEvalData)
            if signature.feature_schema:
                check_columns(features, signature.feature_schema, "eval_features")
                features = features[[c.name for c in signature.feature_schema]]
        elif (
            eval_labels is not None and has_features and features is not None and len(features) != len(labels)
        ):
            raise InvalidEvalData(
                f"the new labels have {len(labels)} rows but the eval features {len(features)}: "
                "replace both together"
            )
        if features is not None and len(features) != len(labels):
            raise InvalidEvalData(
                f"eval_features has {len(features)} rows but the eval labels have {len(labels)}"
            )
        example = self.evaldata.example(old_id)
        if example_data is not None:
            example = as_frame(example_data, "example_data", InvalidEvalData)
            if signature.feature_schema:
                if signature.input_type.value in ("tabular", "text"):
                    check_columns(example, signature.feature_schema, "example_data")
                    example = example[[c.name for c in signature.feature_schema]]
                else:
                    example.columns = [signature.feature_schema[0].name]
        is_public = old.is_public
        if len(labels) != n:
            import secrets

            is_public = competition.split_rows(
                len(labels), public_fraction, np.random.default_rng(secrets.randbits(64))
            )
        # No training-data upload or deletion in between: it would land in the old id.
        leftovers = self.playgrounds.leftovers
        # Noted until the row names it; removed if this fails (the old id is whole, its training
        # data included), or at a later start.
        with self.playgrounds.data_lock(pg_id), leftovers.new_eval_data() as new_id:
            self.evaldata.save(
                labels=labels,
                is_public=is_public,
                features=features,
                example=example,
                eval_data_id=new_id,
            )
            self.evaldata.carry_training(old_id, new_id)  # the training data stays
            rescore = eval_labels is not None or eval_features is not None
            what = ", ".join(
                part
                for part, given in (
                    ("eval labels", eval_labels is not None),
                    ("eval features", eval_features is not None),
                    ("example data", example_data is not None),
                )
                if given
            )
            with self.registry.session() as s:
                pg = self.playgrounds.load(s, name, caller, Access.MANAGE)
                assert caller is not None
                if pg.eval_data_id != old_id:
                    raise CompetitionClosed("the eval data changed meanwhile; try again")
                pg.eval_data_id = new_id
                leftovers.named(s, EVAL_DATA, [new_id])
                leftovers.note(s, EVAL_DATA, [old_id])  # a crash before its removal below
                pg.n_eval_rows = int(len(labels))
                pg.has_eval_features = features is not None
                _record(pg, caller, f"replaced the {what}")
                jobs = self.submissions.rescore(s, pg) if rescore else []
                pg.entrants_changed_at = utcnow()
                s.flush()
                info = self.playgrounds.info(s, pg, caller)
            leftovers.settle(EVAL_DATA, [old_id])
        log.info(
            "%s: %s replaced by %s; %d submission(s) to score again", name, what, caller.username, len(jobs)
        )
        self.submissions.send(jobs)
        return info


def _record(pg: Any, caller: Caller, what: str) -> None:
    changes = list(pg.data_changes or [])
    changes.append({"at": utcnow().isoformat(timespec="seconds"), "by": caller.username, "what": what})
    pg.data_changes = changes[-MAX_CHANGES:]
