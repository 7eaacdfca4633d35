"""Playgrounds: creation with private eval data, access, members and competition settings."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .access import Access, Caller, can_manage, check, is_member
from .domain import (
    DEFAULT_METRIC,
    Column,
    CompetitionInfo,
    InputType,
    Metric,
    PlaygroundInfo,
    PlaygroundSpec,
    QuotaInfo,
    SubmissionStatus,
    SubmissionType,
    TaskType,
    check_playground_name,
    parse_enum,
)
from .errors import (
    AuthenticationRequired,
    InvalidEvalData,
    InvalidInput,
    InvalidSpec,
    PlaygroundExists,
    PlaygroundNotFound,
    UserNotFound,
)
from .evaldata import EvalDataRepo
from .media import MEDIA_COLUMNS, frame_for
from .registry import Member, Playground, Registry, Submission, User, utcnow
from .settings import Settings
from .tabular import (
    check_columns,
    class_list,
    clean_labels,
    clean_targets,
    infer_schema,
)

log = logging.getLogger(__name__)


SUPPORTED_INPUTS = tuple(InputType)


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def competition_closed(pg: Playground, now: datetime | None = None) -> bool:
    now = now or utcnow()
    if pg.competition_closed_at is not None:
        return True
    return pg.competition_deadline is not None and pg.competition_deadline <= now


def has_competition_split(pg: Playground) -> bool:
    return pg.public_fraction < 1.0


def sees_private_scores(pg: Playground, caller: Caller | None) -> bool:
    return can_manage(pg, caller) or competition_closed(pg)


def day_window(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


class Playgrounds:
    def __init__(self, registry: Registry, evaldata: EvalDataRepo, settings: Settings) -> None:
        self.registry = registry
        self.evaldata = evaldata
        self.settings = settings
        self._access_listeners: list[Callable[[str], None]] = []
        self._create_listeners: list[Callable[[str], None]] = []

    def on_create(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` after a playground is created."""
        self._create_listeners.append(listener)

    def on_access_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` after a playground's members change or it is deleted."""
        self._access_listeners.append(listener)

    def names(self) -> list[str]:
        """Every playground's name, for the hub's own use (no access check)."""
        with self.registry.session() as s:
            return list(s.scalars(select(Playground.name).order_by(Playground.created_at)))

    def _access_changed(self, name: str) -> None:
        for listener in self._access_listeners:
            try:
                listener(name)
            except Exception:  # the change is committed; a listener failing must not undo it
                log.exception("access-change listener failed for %s", name)

    # --- lookup ---------------------------------------------------------------------------

    def load(self, session: Session, name: str, caller: Caller | None, need: Access) -> Playground:
        pg = (
            session.scalar(select(Playground).where(Playground.name == name))
            if isinstance(name, str)
            else None
        )
        return check(session, pg, str(name), caller, need)

    def info(self, session: Session, pg: Playground, caller: Caller | None) -> PlaygroundInfo:
        owner = session.get(User, pg.owner_id)
        members = session.scalars(
            select(User.username)
            .join(Member, Member.user_id == User.id)
            .where(Member.playground_id == pg.id)
            .order_by(User.username)
        ).all()
        n_subs = session.scalar(
            select(func.count()).select_from(Submission).where(Submission.playground_id == pg.id)
        )
        metric = Metric(pg.eval_metric)
        return PlaygroundInfo(
            name=pg.name,
            owner=owner.username if owner else "?",
            input_type=InputType(pg.input_type),
            task_type=TaskType(pg.task_type),
            private=pg.private,
            description=pg.description,
            eval_metric=metric,
            higher_is_better=metric.higher_is_better,
            classes=pg.classes,
            feature_schema=[Column(**c) for c in pg.feature_schema],
            n_eval_rows=pg.n_eval_rows,
            has_eval_features=pg.has_eval_features,
            competition=CompetitionInfo(
                public_fraction=pg.public_fraction,
                deadline=pg.competition_deadline,
                closed_at=pg.competition_closed_at,
                is_closed=competition_closed(pg),
                daily_submission_limit=pg.daily_submission_limit,
            ),
            members=list(members),
            n_submissions=int(n_subs or 0),
            created_at=pg.created_at,
        )

    def get(self, caller: Caller | None, name: str) -> PlaygroundInfo:
        with self.registry.session() as s:
            return self.info(s, self.load(s, name, caller, Access.READ), caller)

    def structure(self, name: str) -> PlaygroundInfo:
        """The playground's facts with no access check, for the hub's own use (building its UI);
        what a caller sees must still come from a checked call."""
        with self.registry.session() as s:
            pg = s.scalar(select(Playground).where(Playground.name == name))
            if pg is None:
                raise PlaygroundNotFound(f"playground {name!r} does not exist")
            return self.info(s, pg, None)

    def check_visible(self, caller: Caller | None, name: str) -> None:
        """Raise PlaygroundNotFound unless ``caller`` may see the playground at all."""
        with self.registry.session() as s:
            self.load(s, name, caller, Access.LEADERBOARD)

    def overview(self, caller: Caller | None, name: str) -> PlaygroundInfo:
        """What anyone who may see the leaderboard may know (visitors of public playgrounds too);
        the member list only for those who may read more."""
        with self.registry.session() as s:
            pg = self.load(s, name, caller, Access.LEADERBOARD)
            info = self.info(s, pg, caller)
        if caller is None:
            info = info.model_copy(update={"members": []})
        return info

    def list(self, caller: Caller | None) -> list[PlaygroundInfo]:
        with self.registry.session() as s:
            q = select(Playground).order_by(Playground.created_at)
            if caller is None:
                q = q.where(Playground.private.is_(False))
            elif not caller.is_admin:
                member_of = select(Member.playground_id).where(Member.user_id == caller.user_id)
                q = q.where(
                    or_(
                        Playground.private.is_(False),
                        Playground.owner_id == caller.user_id,
                        Playground.id.in_(member_of),
                    )
                )
            return [self.info(s, pg, caller) for pg in s.scalars(q)]

    # --- create / delete --------------------------------------------------------------------

    def create(
        self,
        caller: Caller | None,
        spec: PlaygroundSpec,
        *,
        eval_labels: Any,
        eval_features: pd.DataFrame | None = None,
        example_data: pd.DataFrame | None = None,
        y_train: Any = None,
    ) -> PlaygroundInfo:
        if caller is None:
            raise AuthenticationRequired("creating a playground needs an API token")
        name = check_playground_name(spec.name)
        input_type = parse_enum(InputType, spec.input_type, "input_type")
        task = parse_enum(TaskType, spec.task_type, "task_type")
        if input_type not in SUPPORTED_INPUTS:
            raise InvalidSpec(
                f"input_type {input_type.value!r} is not served by this hub version; supported: "
                f"{[t.value for t in SUPPORTED_INPUTS]}"
            )
        text = input_type is InputType.TEXT
        as_frame = frame_for(input_type)
        metric = parse_enum(Metric, spec.eval_metric or DEFAULT_METRIC[task].value, "eval_metric")
        if metric.task_type is not task:
            allowed = [m.value for m in Metric if m.task_type is task]
            raise InvalidSpec(
                f"eval_metric {metric.value!r} does not apply to {task.value}; use one of {allowed}"
            )
        if not 0.0 < spec.public_fraction <= 1.0:
            raise InvalidSpec(f"public_fraction must be in (0, 1], got {spec.public_fraction}")
        limit = spec.daily_submission_limit or self.settings.daily_submission_limit
        if limit < 1:
            raise InvalidSpec(f"daily_submission_limit must be at least 1, got {limit}")
        deadline = as_utc(spec.competition_deadline)

        classes: list[Any] | None = None
        if task is TaskType.CLASSIFICATION:
            labels = clean_labels(eval_labels, "eval labels")
            train = clean_labels(y_train, "y_train") if y_train is not None else None
            classes = class_list(labels, *([train] if train is not None else []))
            if len(classes) < 2:
                raise InvalidEvalData(
                    f"classification needs at least two classes; the labels only hold {classes}"
                )
        else:
            labels = clean_targets(eval_labels, "eval labels")
        n = int(labels.shape[0])

        features = None
        if eval_features is not None:
            features = as_frame(eval_features, "eval_features", InvalidEvalData)
            if len(features) != n:
                raise InvalidEvalData(f"eval_features has {len(features)} rows but the eval labels have {n}")
            if features.shape[1] == 0:
                raise InvalidEvalData("eval_features has no columns")
        example = None
        if example_data is not None:
            example = as_frame(example_data, "example_data", InvalidEvalData)
            if len(example) == 0:
                raise InvalidEvalData("example_data is empty")
        schema: list[Column] = []
        if input_type in MEDIA_COLUMNS:
            source = features if features is not None else example
            if source is not None:
                schema = [Column(name=str(source.columns[0]), dtype=MEDIA_COLUMNS[input_type])]
            if features is not None and example is not None:
                example.columns = [schema[0].name]
        elif features is not None:
            schema = infer_schema(features, "eval_features", categorical=not text)
            if example is not None:
                check_columns(example, schema, "example_data")
                example = example[[c.name for c in schema]]
        elif example is not None:
            schema = infer_schema(example, "example_data", categorical=not text)

        is_public = np.ones(n, dtype=bool)
        if spec.public_fraction < 1.0:
            if n < 2:
                raise InvalidEvalData("a competition split needs at least two eval rows")
            n_public = min(max(round(n * spec.public_fraction), 1), n - 1)
            rng = np.random.default_rng(secrets.randbits(64))
            is_public[:] = False
            is_public[rng.permutation(n)[:n_public]] = True

        with self.registry.session() as s:
            if s.scalar(select(Playground.id).where(Playground.name == name)) is not None:
                raise PlaygroundExists(f"a playground named {name!r} already exists")
        eval_data_id = self.evaldata.save(
            labels=labels, is_public=is_public, features=features, example=example
        )
        try:
            with self.registry.session() as s:
                pg = Playground(
                    name=name,
                    owner_id=caller.user_id,
                    input_type=input_type.value,
                    task_type=task.value,
                    private=bool(spec.private),
                    description=spec.description,
                    eval_metric=metric.value,
                    classes=classes,
                    feature_schema=[c.model_dump(mode="json") for c in schema],
                    eval_data_id=eval_data_id,
                    n_eval_rows=n,
                    has_eval_features=features is not None,
                    public_fraction=float(spec.public_fraction),
                    competition_deadline=deadline,
                    daily_submission_limit=limit,
                )
                s.add(pg)
                s.flush()
                info = self.info(s, pg, caller)
        except IntegrityError:
            self.evaldata.delete(eval_data_id)
            raise PlaygroundExists(f"a playground named {name!r} already exists") from None
        except BaseException:
            self.evaldata.delete(eval_data_id)
            raise
        log.info("playground %s created by %s (%d eval rows)", name, caller.username, n)
        for listener in self._create_listeners:
            try:
                listener(name)
            except Exception:  # the playground exists; a listener failing must not say otherwise
                log.exception("create listener failed for %s", name)
        return info

    def delete(self, caller: Caller | None, name: str) -> None:
        with self.registry.session() as s:
            pg = self.load(s, name, caller, Access.MANAGE)
            eval_data_id = pg.eval_data_id
            s.delete(pg)
        self.evaldata.delete(eval_data_id)
        self._access_changed(name)

    # --- data ------------------------------------------------------------------------------

    def eval_features(self, caller: Caller | None, name: str) -> pd.DataFrame:
        with self.registry.session() as s:
            pg = self.load(s, name, caller, Access.READ)
            eval_data_id, has = pg.eval_data_id, pg.has_eval_features
        if not has:
            raise InvalidInput(f"playground {name!r} was created without eval features")
        return self.evaldata.features(eval_data_id)

    def example_data(self, caller: Caller | None, name: str) -> pd.DataFrame:
        with self.registry.session() as s:
            eval_data_id = self.load(s, name, caller, Access.READ).eval_data_id
        example = self.evaldata.example(eval_data_id)
        if example is None:
            raise InvalidInput(f"playground {name!r} has no example data")
        return example

    # --- members and competition -------------------------------------------------------------

    def add_member(self, caller: Caller | None, name: str, username: str) -> PlaygroundInfo:
        with self.registry.session() as s:
            pg = self.load(s, name, caller, Access.MANAGE)
            uid = s.scalar(select(User.id).where(User.username == username))
            if uid is None:
                raise UserNotFound(f"no user named {username!r}")
            if s.get(Member, (pg.id, uid)) is None and uid != pg.owner_id:
                s.add(Member(playground_id=pg.id, user_id=uid))
                s.flush()
            info = self.info(s, pg, caller)
        self._access_changed(name)
        return info

    def remove_member(self, caller: Caller | None, name: str, username: str) -> PlaygroundInfo:
        with self.registry.session() as s:
            pg = self.load(s, name, caller, Access.MANAGE)
            uid = s.scalar(select(User.id).where(User.username == username))
            member = s.get(Member, (pg.id, uid)) if uid is not None else None
            if member is None:
                raise UserNotFound(f"{username!r} is not a member of playground {name!r}")
            s.delete(member)
            s.flush()
            info = self.info(s, pg, caller)
        self._access_changed(name)
        return info

    def update_competition(
        self,
        caller: Caller | None,
        name: str,
        *,
        deadline: datetime | None = None,
        clear_deadline: bool = False,
        daily_submission_limit: int | None = None,
        close: bool = False,
    ) -> PlaygroundInfo:
        if daily_submission_limit is not None and daily_submission_limit < 1:
            raise InvalidSpec(f"daily_submission_limit must be at least 1, got {daily_submission_limit}")
        with self.registry.session() as s:
            pg = self.load(s, name, caller, Access.MANAGE)
            if clear_deadline:
                pg.competition_deadline = None
            elif deadline is not None:
                pg.competition_deadline = as_utc(deadline)
            if daily_submission_limit is not None:
                pg.daily_submission_limit = daily_submission_limit
            if close and pg.competition_closed_at is None:
                pg.competition_closed_at = utcnow()
            s.flush()
            return self.info(s, pg, caller)

    def quota(self, caller: Caller | None, name: str) -> QuotaInfo:
        with self.registry.session() as s:
            pg = self.load(s, name, caller, Access.SUBMIT)
            return self.quota_in(s, pg, caller)  # type: ignore[arg-type]

    @staticmethod
    def quota_in(session: Session, pg: Playground, caller: Caller) -> QuotaInfo:
        start, end = day_window(utcnow())
        used = session.scalar(
            select(func.count())
            .select_from(Submission)
            .where(
                Submission.playground_id == pg.id,
                Submission.user_id == caller.user_id,
                Submission.submission_type.in_([SubmissionType.COMPETITION.value, SubmissionType.ALL.value]),
                Submission.status != SubmissionStatus.FAILED.value,
                Submission.created_at >= start,
            )
        )
        used = int(used or 0)
        return QuotaInfo(
            limit=pg.daily_submission_limit,
            used=used,
            remaining=max(pg.daily_submission_limit - used, 0),
            resets_at=end,
        )

    def is_member(self, session: Session, pg: Playground, caller: Caller) -> bool:
        return is_member(session, pg, caller)
