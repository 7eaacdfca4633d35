"""Playgrounds: creation with private eval data, access, members and competition settings."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core.media import MEDIA_COLUMNS, frame_for
from ..core.tabular import (
    check_columns,
    class_list,
    clean_labels,
    clean_targets,
    infer_schema,
)
from ..domain import (
    DEFAULT_METRIC,
    DEFAULT_SHOWN_METRICS,
    NAME_PATTERN,
    Column,
    CompetitionInfo,
    InputType,
    Metric,
    PlaygroundInfo,
    PlaygroundSpec,
    QuotaInfo,
    TaskType,
    check_playground_name,
    check_text,
    check_username,
    parse_enum,
)
from ..errors import (
    AuthenticationRequired,
    InvalidEvalData,
    InvalidInput,
    InvalidSpec,
    LimitReached,
    PlaygroundExists,
    PlaygroundNotFound,
    UserNotFound,
)
from . import competition
from .access import Access, Caller, Role, can_manage, check, is_member
from .evaldata import EvalDataRepo
from .leftovers import ARTIFACT, EVAL_DATA, Leftovers
from .registry import (
    MemberRow,
    PlaygroundRow,
    Registry,
    SubmissionRow,
    UserRow,
    artifacts_of,
    entrant_filter,
    team_of,
    utcnow,
)
from .settings import Settings
from .storage import ArtifactStore

log = logging.getLogger(__name__)


SUPPORTED_INPUTS = tuple(InputType)
MAX_DESCRIPTION = 50_000


class Playgrounds:
    """Playgrounds: create one with its private eval data, look one up with an access check,
    change its members and competition settings, delete it.

    Every public method takes the caller (``None`` for a visitor) and checks access first.
    Listeners (``on_create``, ``on_access_change``) let the deployments follow changes.
    """

    def __init__(
        self,
        registry: Registry,
        evaldata: EvalDataRepo,
        settings: Settings,
        store: ArtifactStore | None = None,
    ) -> None:
        self.registry = registry
        self.evaldata = evaldata
        self.settings = settings
        self.store = store  # deleting a playground frees its submissions' files
        self.leftovers = Leftovers(registry, evaldata, store)
        self._access_listeners: list[Callable[[str], None]] = []
        self._create_listeners: list[Callable[[str], None]] = []
        self._owner_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
        self._data_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)

    def data_lock(self, playground_id: int) -> threading.Lock:
        """Held while a playground's eval-data id or its training data changes (an upload, a
        deletion, a replacement of the eval data under a new id), so that none of them works on
        an id another is replacing."""
        return self._data_locks[playground_id]

    def on_create(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` after a playground is created."""
        self._create_listeners.append(listener)

    def on_access_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` after a playground's members change or it is deleted."""
        self._access_listeners.append(listener)

    def names(self) -> list[str]:
        """Every playground's name, for the hub's own use (no access check)."""
        with self.registry.session() as s:
            return list(s.scalars(select(PlaygroundRow.name).order_by(PlaygroundRow.created_at)))

    def access_changed(self, name: str) -> None:
        for listener in self._access_listeners:
            try:
                listener(name)
            except Exception:  # the change is committed; a listener failing must not undo it
                log.exception("access-change listener failed for %s", name)

    # --- lookup ---------------------------------------------------------------------------

    def load(
        self, session: Session, name: str, caller: Caller | None, need: Access, *, lock: bool = False
    ) -> PlaygroundRow:
        """The playground ``name`` if ``caller`` may ``need`` it; with ``lock``, its row locked
        until the transaction ends (on PostgreSQL: a submit's or a replacement's commit then
        comes wholly before or after; SQLite's transactions already take turns)."""
        # A string that cannot be a playground's name (bad characters, lone surrogates) names
        # none: answer "not found" without asking the database.
        valid = isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None
        query = select(PlaygroundRow).where(PlaygroundRow.name == name)
        pg = session.scalar(query.with_for_update() if lock else query) if valid else None
        return check(session, pg, str(name)[:80], caller, need)

    def info(self, session: Session, pg: PlaygroundRow, caller: Caller | None) -> PlaygroundInfo:
        owner = session.get(UserRow, pg.owner_id)
        member_rows = session.execute(
            select(UserRow.username, MemberRow.role)
            .join(MemberRow, MemberRow.user_id == UserRow.id)
            .where(MemberRow.playground_id == pg.id)
            .order_by(UserRow.username)
        ).all()
        members = [m.username for m in member_rows]
        co_owners = [m.username for m in member_rows if m.role == Role.CO_OWNER.value]
        n_subs, n_people = session.execute(
            select(func.count(), func.count(func.distinct(SubmissionRow.user_id))).where(
                SubmissionRow.playground_id == pg.id
            )
        ).one()
        metric = Metric(pg.eval_metric)
        return PlaygroundInfo(
            name=pg.name,
            owner=owner.username if owner else "?",
            signature=pg.signature,
            private=pg.private,
            description=pg.description,
            eval_metric=metric,
            higher_is_better=metric.higher_is_better,
            shown_metrics=shown_metrics(pg),
            n_eval_rows=pg.n_eval_rows,
            has_eval_features=pg.has_eval_features,
            competition=CompetitionInfo(
                public_fraction=pg.public_fraction,
                deadline=pg.competition_deadline,
                closed_at=pg.competition_closed_at,
                is_closed=pg.competition.is_closed(utcnow()),
                daily_submission_limit=pg.daily_submission_limit,
                start=pg.competition_start or pg.created_at,
                final_selections=pg.final_selections,
                team_size_limit=pg.team_size_limit,
            ),
            members=list(members),
            co_owners=co_owners,
            n_submissions=int(n_subs or 0),
            n_participants=int(n_people or 0),
            pages=dict(pg.pages or {}),
            data_changes=list(pg.data_changes or []),
            created_at=pg.created_at,
        )

    def get(self, caller: Caller | None, name: str) -> PlaygroundInfo:
        with self.registry.session() as s:
            return self.info(s, self.load(s, name, caller, Access.READ), caller)

    def structure(self, name: str) -> PlaygroundInfo:
        """The playground's facts with no access check, for the hub's own use (building its UI);
        what a caller sees must still come from a checked call."""
        with self.registry.session() as s:
            pg = s.scalar(select(PlaygroundRow).where(PlaygroundRow.name == name))
            if pg is None:
                raise PlaygroundNotFound(f"playground {name!r} does not exist")
            return self.info(s, pg, None)

    def structure_example(self, name: str) -> pd.DataFrame | None:
        """The example rows with no access check, for the hub's own use (the demo tab's examples
        of a page that is itself access-checked per call)."""
        with self.registry.session() as s:
            eval_data_id = s.scalar(select(PlaygroundRow.eval_data_id).where(PlaygroundRow.name == name))
        if eval_data_id is None:
            raise PlaygroundNotFound(f"playground {name!r} does not exist")
        return self.evaldata.example(eval_data_id)

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
            info = info.model_copy(update={"members": [], "co_owners": []})
        return info

    def list(self, caller: Caller | None) -> list[PlaygroundInfo]:
        with self.registry.session() as s:
            q = select(PlaygroundRow).order_by(PlaygroundRow.created_at)
            if caller is None:
                q = q.where(PlaygroundRow.private.is_(False))
            elif not caller.is_admin:
                member_of = select(MemberRow.playground_id).where(MemberRow.user_id == caller.user_id)
                q = q.where(
                    or_(
                        PlaygroundRow.private.is_(False),
                        PlaygroundRow.owner_id == caller.user_id,
                        PlaygroundRow.id.in_(member_of),
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
        # Media columns hold encoded files; a string is never taken for a path on the hub.
        as_frame = frame_for(input_type, limits=self.settings.decode_limits)
        metric = parse_enum(Metric, spec.eval_metric or DEFAULT_METRIC[task].value, "eval_metric")
        if metric.task_type is not task:
            allowed = [m.value for m in Metric if m.task_type is task]
            raise InvalidSpec(
                f"eval_metric {metric.value!r} does not apply to {task.value}; use one of {allowed}"
            )
        check_text(spec.description, "description", max_length=MAX_DESCRIPTION, multiline=True)
        public_fraction = competition.check_public_fraction(spec.public_fraction)
        limit = competition.check_daily_limit(
            self.settings.daily_submission_limit
            if spec.daily_submission_limit is None
            else spec.daily_submission_limit
        )
        deadline = competition.as_utc(spec.competition_deadline)
        start = competition.as_utc(spec.competition_start)
        finals = competition.check_final_selections(spec.final_selections)
        team_size = competition.check_team_size_limit(spec.team_size_limit)
        shown = check_shown_metrics(task, metric, spec.shown_metrics)

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

        is_public = competition.split_rows(n, public_fraction, np.random.default_rng(secrets.randbits(64)))
        data_bytes = sum(
            int(frame.memory_usage(index=False, deep=True).sum())
            for frame in (features, example, pd.DataFrame({"y": labels}))
            if frame is not None
        )

        # One creation at a time per account: the counts below hold until the row is in.
        with self._owner_locks[caller.user_id]:
            with self.registry.session() as s:
                if s.scalar(select(PlaygroundRow.id).where(PlaygroundRow.name == name)) is not None:
                    raise PlaygroundExists(f"a playground named {name!r} already exists")
                self._check_count(s, caller)
                self.check_storage(s, caller, data_bytes)
            try:
                # Noted until the row names it; removed if this fails, or at a later start.
                with self.leftovers.new_eval_data() as eval_data_id:
                    self.evaldata.save(
                        labels=labels,
                        is_public=is_public,
                        features=features,
                        example=example,
                        eval_data_id=eval_data_id,
                    )
                    with self.registry.session() as s:
                        pg = PlaygroundRow(
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
                            public_fraction=public_fraction,
                            competition_deadline=deadline,
                            daily_submission_limit=limit,
                            competition_start=start,
                            final_selections=finals,
                            team_size_limit=team_size,
                            shown_metrics=shown,
                            data_bytes=data_bytes,
                        )
                        s.add(pg)
                        s.flush()
                        self.leftovers.named(s, EVAL_DATA, [eval_data_id])
                        info = self.info(s, pg, caller)
            except IntegrityError:
                raise PlaygroundExists(f"a playground named {name!r} already exists") from None
            log.info("playground %s created by %s (%d eval rows)", name, caller.username, n)
            for listener in self._create_listeners:
                try:
                    listener(name)
                except Exception:  # the playground exists; a listener failing must not say otherwise
                    log.exception("create listener failed for %s", name)
            return info

    def _check_count(self, session: Session, caller: Caller) -> None:
        if caller.is_admin:
            return
        owned = session.scalar(
            select(func.count()).select_from(PlaygroundRow).where(PlaygroundRow.owner_id == caller.user_id)
        )
        limit = self.settings.user_max_playgrounds
        if int(owned or 0) >= limit:
            raise LimitReached(
                f"your account owns {owned} playgrounds, the most an account may "
                f"(AIMS_USER_MAX_PLAYGROUNDS={limit}); delete one first or ask an admin"
            )

    def delete(self, caller: Caller | None, name: str) -> None:
        """Delete the playground, its eval data, its submissions and the files no other
        submission shares (so an account's storage limit counts what it really holds)."""
        with self.registry.session() as s:
            # Locked: the eval data and the files read below are the last any commit gave it.
            pg = self.load(s, name, caller, Access.OWN, lock=True)
            eval_data_id = pg.eval_data_id
            digests = {
                d
                for sub in s.scalars(select(SubmissionRow).where(SubmissionRow.playground_id == pg.id))
                for d in artifacts_of(sub)
            }
            s.delete(pg)
            # Noted in the delete's commit: a crash before the removals below leaves them to the
            # next start, not in the stores for ever (the labels included).
            self.leftovers.note(s, EVAL_DATA, [eval_data_id])
            self.leftovers.note(s, ARTIFACT, digests)
        self.leftovers.settle(EVAL_DATA, [eval_data_id])
        self.leftovers.settle(ARTIFACT, digests)  # those no other submission shares
        self.access_changed(name)

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

    def add_member(
        self, caller: Caller | None, name: str, username: str, role: str = Role.MEMBER.value
    ) -> PlaygroundInfo:
        """Add a member, or change a member's role (``member`` or ``co-owner``)."""
        check_username(username)
        wanted = parse_enum(Role, role, "role")
        with self.registry.session() as s:
            pg = self.load(s, name, caller, Access.MANAGE)
            uid = s.scalar(select(UserRow.id).where(UserRow.username == username))
            if uid is None:
                raise UserNotFound(f"no user named {username!r}")
            if uid != pg.owner_id:
                member = s.get(MemberRow, (pg.id, uid))
                if member is None:
                    s.add(MemberRow(playground_id=pg.id, user_id=uid, role=wanted.value))
                else:
                    member.role = wanted.value
                s.flush()
            info = self.info(s, pg, caller)
        self.access_changed(name)
        return info

    def remove_member(self, caller: Caller | None, name: str, username: str) -> PlaygroundInfo:
        with self.registry.session() as s:
            pg = self.load(s, name, caller, Access.MANAGE)
            uid = s.scalar(select(UserRow.id).where(UserRow.username == username))
            member = s.get(MemberRow, (pg.id, uid)) if uid is not None else None
            if member is None:
                raise UserNotFound(f"{username!r} is not a member of playground {name!r}")
            s.delete(member)
            s.flush()
            info = self.info(s, pg, caller)
        self.access_changed(name)
        return info

    def update_competition(
        self,
        caller: Caller | None,
        name: str,
        *,
        deadline: datetime | None = None,
        clear_deadline: bool = False,
        daily_submission_limit: int | None = None,
        final_selections: int | None = None,
        team_size_limit: int | None = None,
        close: bool = False,
    ) -> PlaygroundInfo:
        if daily_submission_limit is not None:
            competition.check_daily_limit(daily_submission_limit)
        if final_selections is not None:
            competition.check_final_selections(final_selections)
        if team_size_limit is not None:
            competition.check_team_size_limit(team_size_limit)
        with self.registry.session() as s:
            pg = self.load(s, name, caller, Access.MANAGE)
            if clear_deadline or deadline is not None:
                competition.check_deadline_change(pg.competition, utcnow())
            if clear_deadline:
                pg.competition_deadline = None
            elif deadline is not None:
                pg.competition_deadline = competition.as_utc(deadline)
            if daily_submission_limit is not None:
                pg.daily_submission_limit = daily_submission_limit
            if final_selections is not None or team_size_limit is not None:
                competition.check_open(pg.competition, utcnow(), "final selections and team sizes")
                pg.final_selections = final_selections or pg.final_selections
                pg.team_size_limit = team_size_limit or pg.team_size_limit
                pg.entrants_changed_at = utcnow()
            if close and pg.competition_closed_at is None:
                pg.competition_closed_at = utcnow()
            s.flush()
            return self.info(s, pg, caller)

    def quota(self, caller: Caller | None, name: str) -> QuotaInfo:
        with self.registry.session() as s:
            pg = self.load(s, name, caller, Access.SUBMIT)
            return self.quota_in(s, pg, caller)  # type: ignore[arg-type]

    # --- what one account may hold ---------------------------------------------------------

    def storage_used(self, session: Session, user_id: int) -> int:
        """Bytes an account's uploads and its playgrounds' eval data take."""
        uploads = session.scalar(
            select(func.coalesce(func.sum(SubmissionRow.stored_bytes), 0)).where(
                SubmissionRow.user_id == user_id
            )
        )
        data = session.scalar(
            select(func.coalesce(func.sum(PlaygroundRow.data_bytes), 0)).where(
                PlaygroundRow.owner_id == user_id
            )
        )
        return int(uploads or 0) + int(data or 0)

    def check_storage(self, session: Session, caller: Caller, adding: int) -> None:
        """Refuse ``adding`` bytes more when the account would pass its storage limit (admins
        have none)."""
        if caller.is_admin:
            return
        limit = int(self.settings.user_max_storage_mb * 2**20)
        used = self.storage_used(session, caller.user_id)
        if used + adding > limit:
            raise LimitReached(
                f"this upload ({_mib(adding)}) would take your account past its storage limit of "
                f"{_mib(limit)} ({_mib(used)} used; AIMS_USER_MAX_STORAGE_MB); delete a playground "
                "or ask an admin"
            )

    def rules(self, pg: PlaygroundRow) -> competition.Competition:
        """The playground's competition as the rules take it (with the hub's score precision)."""
        return dataclasses.replace(pg.competition, score_digits=self.settings.competition_score_digits)

    def used_today(self, session: Session, pg: PlaygroundRow, caller: Caller, now: datetime) -> int:
        """The caller's submissions in ``now``'s day window that count toward the quota (see
        :func:`competition.counts_toward_quota`)."""
        start, _ = competition.day_window(now)
        types = competition.counted_types(self.rules(pg), manages=can_manage(pg, caller), now=now)
        # The quota is the entrant's: its team's entries, or the participant's own.
        team_id = team_of(session, pg.id, caller.user_id)
        used = session.scalar(
            select(func.count())
            .select_from(SubmissionRow)
            .where(
                *entrant_filter(pg.id, caller.user_id, team_id),
                SubmissionRow.submission_type.in_([t.value for t in types]),
                SubmissionRow.status.in_([s.value for s in competition.COUNTED]),
                SubmissionRow.created_at >= start,
            )
        )
        return int(used or 0)

    def quota_in(self, session: Session, pg: PlaygroundRow, caller: Caller) -> QuotaInfo:
        now = utcnow()
        return competition.quota(self.rules(pg), self.used_today(session, pg, caller, now), now)

    def is_member(self, session: Session, pg: PlaygroundRow, caller: Caller) -> bool:
        return is_member(session, pg, caller)


MAX_SHOWN_METRICS = 12


def check_shown_metrics(task: TaskType, ranking: Metric, chosen: Any) -> list[str] | None:
    """The metric columns a playground's boards show: the ranking metric first, then the chosen
    ones (each must apply to the task); None keeps the task's usual columns."""
    if chosen is None:
        return None
    if not isinstance(chosen, list) or len(chosen) > MAX_SHOWN_METRICS:
        raise InvalidSpec(f"shown_metrics must be a list of at most {MAX_SHOWN_METRICS} metric names")
    out = [ranking.value]
    for value in chosen:
        metric = parse_enum(Metric, value, "metric in shown_metrics")
        if metric.task_type is not task:
            raise InvalidSpec(f"metric {metric.value!r} in shown_metrics does not apply to {task.value}")
        if metric.value not in out:
            out.append(metric.value)
    return out


def shown_metrics(pg: PlaygroundRow) -> list[Metric]:
    """The metric columns the playground's boards show, the ranking metric first."""
    ranking = Metric(pg.eval_metric)
    chosen = pg.shown_metrics or [m.value for m in DEFAULT_SHOWN_METRICS[TaskType(pg.task_type)]]
    return [ranking] + [Metric(m) for m in chosen if m != ranking.value]


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"
