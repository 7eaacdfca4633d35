"""The registry: users, tokens, playgrounds, members, submissions and deployments.

Rows are named ``*Row`` so they never meet the client's classes of the same idea
(``SubmissionRow`` here, :class:`aims_spaces.client.Submission` there); services turn them into
the frozen results of :mod:`aims_spaces.domain` before anything leaves the hub.

SQLAlchemy 2 over SQLite (WAL) by default; any SQLAlchemy URL works. The schema is owned by the
Alembic migrations in ``aims_spaces/hub/migrations``; :meth:`Registry.migrate` brings a database to
the newest revision and runs at every hub start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    or_,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from ..domain import Column, InputType, Signature, TaskType
from .competition import Competition

log = logging.getLogger(__name__)


def _json_dumps(value: Any) -> str:
    # orjson reads and writes the JSON columns (scores, metadata) several times faster than json.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive ones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the registry")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)  # as given, not verified
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PlaygroundRow(Base):
    __tablename__ = "playgrounds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    input_type: Mapped[str] = mapped_column(String(16))
    task_type: Mapped[str] = mapped_column(String(16))
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    eval_metric: Mapped[str] = mapped_column(String(32))
    classes: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    feature_schema: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    eval_data_id: Mapped[str] = mapped_column(String(64), unique=True)
    n_eval_rows: Mapped[int] = mapped_column(Integer)
    has_eval_features: Mapped[bool] = mapped_column(Boolean, default=False)
    public_fraction: Mapped[float] = mapped_column(Float, default=0.5)
    competition_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    competition_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    daily_submission_limit: Mapped[int] = mapped_column(Integer, default=5)
    competition_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    final_selections: Mapped[int] = mapped_column(Integer, default=2)
    team_size_limit: Mapped[int] = mapped_column(Integer, default=4)
    shown_metrics: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    pages: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)  # data, evaluation, rules
    # What the owner changed in the eval data or the ranking metric, newest last (when, who, what).
    data_changes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # When teams or final selections last changed: part of a cached board's key.
    entrants_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_version: Mapped[int] = mapped_column(Integer, default=1)
    data_bytes: Mapped[int] = mapped_column(
        BigInteger, default=0
    )  # its eval data, for the owner's storage limit
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def signature(self) -> Signature:
        """What a model must fit, built from the row in this one place."""
        return Signature(
            input_type=InputType(self.input_type),
            task_type=TaskType(self.task_type),
            feature_schema=[Column(**c) for c in self.feature_schema],
            classes=self.classes,
        )

    @property
    def competition(self) -> Competition:
        return Competition(
            public_fraction=self.public_fraction,
            deadline=self.competition_deadline,
            closed_at=self.competition_closed_at,
            daily_limit=self.daily_submission_limit,
            start=self.competition_start or self.created_at,
            final_selections=self.final_selections,
            team_size_limit=self.team_size_limit,
        )


class MemberRow(Base):
    __tablename__ = "members"
    playground_id: Mapped[int] = mapped_column(
        ForeignKey("playgrounds.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    role: Mapped[str] = mapped_column(String(16), default="member")  # member or co-owner


class InvitationRow(Base):
    """A link that lets people join a playground (and sign up on the way)."""

    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    playground_id: Mapped[int] = mapped_column(ForeignKey("playgrounds.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the link's code
    role: Mapped[str] = mapped_column(String(16), default="member")
    email_domain: Mapped[str | None] = mapped_column(String(253), nullable=True)
    max_uses: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TeamRow(Base):
    """A team of participants in one playground's competition: its entries are the team's."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("playground_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    playground_id: Mapped[int] = mapped_column(ForeignKey("playgrounds.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    invite_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the join code
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamMemberRow(Base):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("playground_id", "user_id"),)  # one team per competition
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    playground_id: Mapped[int] = mapped_column(ForeignKey("playgrounds.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubmissionRow(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("playground_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    playground_id: Mapped[int] = mapped_column(ForeignKey("playgrounds.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True, index=True
    )
    selected: Mapped[bool] = mapped_column(Boolean, default=False)  # a final entry for the standing
    # Scored, and being scored again (the eval data or ranking metric changed): the old scores
    # stand until the new result arrives.
    rescore_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    submission_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    model_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    original_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    predictions_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    preprocessor_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)  # its uploads, for the storage limit
    framework: Mapped[str | None] = mapped_column(String(32), nullable=True)
    model_type: Mapped[str | None] = mapped_column(String(128), nullable=True)
    model_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    custom_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    onnx_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    intervals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    verified: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    mismatch_fraction: Mapped[float | None] = mapped_column(Float, nullable=True)
    scored_predictions_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    duplicate_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    evaluated_by: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


ARTIFACT_COLUMNS = ("model_sha256", "original_sha256", "predictions_sha256", "preprocessor_sha256")


def artifacts_of(row: SubmissionRow) -> list[str]:
    """The artifact digests a submission refers to."""
    return [d for d in (getattr(row, c) for c in ARTIFACT_COLUMNS) if d]


def artifact_in_use(session: Session, digest: str) -> bool:
    """Whether any submission still refers to the artifact ``digest`` (artifacts are shared by
    content, so one upload may serve several submissions)."""
    used = session.scalar(
        select(SubmissionRow.id)
        .where(or_(*(getattr(SubmissionRow, c) == digest for c in ARTIFACT_COLUMNS)))
        .limit(1)
    )
    return used is not None


def entrant_filter(pg_id: int, user_id: int, team_id: int | None) -> tuple[Any, ...]:
    """The registry condition for one entrant's submissions: its team's, or the participant's own
    while they are in no team."""
    if team_id is not None:
        return (SubmissionRow.playground_id == pg_id, SubmissionRow.team_id == team_id)
    return (
        SubmissionRow.playground_id == pg_id,
        SubmissionRow.user_id == user_id,
        SubmissionRow.team_id.is_(None),
    )


def team_of(session: Session, pg_id: int, user_id: int) -> int | None:
    """The id of the team ``user_id`` is in on this playground, if any."""
    return session.scalar(
        select(TeamMemberRow.team_id).where(
            TeamMemberRow.playground_id == pg_id, TeamMemberRow.user_id == user_id
        )
    )


class DeploymentRow(Base):
    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    playground_id: Mapped[int] = mapped_column(ForeignKey("playgrounds.id", ondelete="CASCADE"), unique=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deployed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class PendingRemovalRow(Base):
    """An object in a store that a crash could leave with no row naming it (see
    :mod:`aims_spaces.hub.leftovers`)."""

    __tablename__ = "pending_removals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "eval_data" or "artifact"
    key: Mapped[str] = mapped_column(String(64), index=True)  # an eval-data id or a sha256
    noted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below (pysqlite otherwise
        # begins lazily, which turns concurrent writers into "database is locked" errors).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock at the start so two writers queue on busy_timeout instead of
        # deadlocking on a read-to-write upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Registry:
    """Owns the engine and hands out transactional sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                json_serializer=_json_dumps,
                json_deserializer=orjson.loads,
            )
            _sqlite_pragmas(self.engine)
        else:
            self.engine = create_engine(
                url, pool_pre_ping=True, json_serializer=_json_dumps, json_deserializer=orjson.loads
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from .migrations import upgrade

        upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
