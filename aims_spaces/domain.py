"""Domain types shared by the hub, the evaluators and the client.

States and kinds are ``str`` enums; results that cross a boundary (REST, Ray) are pydantic
models, parsed once where they arrive.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidName, InvalidSpec

E = TypeVar("E", bound=StrEnum)

NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,38}[A-Za-z0-9])?$")


class InputType(StrEnum):
    TABULAR = "tabular"
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"


class TaskType(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class SubmissionType(StrEnum):
    EXPERIMENT = "experiment"
    COMPETITION = "competition"
    ALL = "all"

    @property
    def in_experiment(self) -> bool:
        return self in (SubmissionType.EXPERIMENT, SubmissionType.ALL)

    @property
    def in_competition(self) -> bool:
        return self in (SubmissionType.COMPETITION, SubmissionType.ALL)


class Board(StrEnum):
    EXPERIMENT = "experiment"
    COMPETITION = "competition"


class SubmissionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SCORED = "scored"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (SubmissionStatus.SCORED, SubmissionStatus.FAILED)


class Split(StrEnum):
    """Row subsets of the eval data. Without a competition split, ``public`` is every row."""

    ALL = "all"
    PUBLIC = "public"
    PRIVATE = "private"


class Metric(StrEnum):
    ACCURACY = "accuracy"
    F1_MACRO = "f1_macro"
    PRECISION_MACRO = "precision_macro"
    RECALL_MACRO = "recall_macro"
    LOG_LOSS = "log_loss"
    ROC_AUC = "roc_auc"
    MSE = "mse"
    RMSE = "rmse"
    MAE = "mae"
    R2 = "r2"

    @property
    def higher_is_better(self) -> bool:
        return self in _HIGHER_IS_BETTER

    @property
    def task_type(self) -> TaskType:
        return TaskType.REGRESSION if self in _REGRESSION else TaskType.CLASSIFICATION

    @property
    def needs_probabilities(self) -> bool:
        return self in (Metric.LOG_LOSS, Metric.ROC_AUC)


_HIGHER_IS_BETTER = {
    Metric.ACCURACY,
    Metric.F1_MACRO,
    Metric.PRECISION_MACRO,
    Metric.RECALL_MACRO,
    Metric.ROC_AUC,
    Metric.R2,
}
_REGRESSION = {Metric.MSE, Metric.RMSE, Metric.MAE, Metric.R2}

DEFAULT_METRIC = {TaskType.CLASSIFICATION: Metric.ACCURACY, TaskType.REGRESSION: Metric.RMSE}


def parse_enum(enum: type[E], value: Any, what: str) -> E:
    """``enum(value)`` with an error that lists the allowed values."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum)
        raise InvalidSpec(f"unknown {what} {value!r}; expected one of {allowed}") from None


def check_playground_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidName(
            f"invalid playground name {name!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting and ending with a letter or digit (no '/', '.', spaces or other path "
            "characters)"
        )
    return name


def check_username(name: Any) -> str:
    if not isinstance(name, str) or not USERNAME_PATTERN.match(name):
        raise InvalidName(
            f"invalid username {name!r}: use 1-40 letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit"
        )
    return name


class ColumnType(StrEnum):
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STRING = "string"
    IMAGE = "image"  # encoded image files (PNG, JPEG, ...) as bytes
    AUDIO = "audio"  # encoded sound files (WAV, FLAC, ...) as bytes
    VIDEO = "video"  # encoded video files (MP4, ...) as bytes

    @property
    def numeric(self) -> bool:
        return self in (ColumnType.FLOAT, ColumnType.INT, ColumnType.BOOL)

    @property
    def media(self) -> bool:
        return self in (ColumnType.IMAGE, ColumnType.AUDIO, ColumnType.VIDEO)


class Column(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    dtype: ColumnType
    categories: list[str] | None = None  # values seen in the eval data, for string columns


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class UserInfo(_Frozen):
    username: str
    is_admin: bool
    created_at: datetime


class TokenInfo(_Frozen):
    """A freshly issued API token. The hub stores only its hash; this is the one chance to read it."""

    username: str
    token: str


class CompetitionInfo(_Frozen):
    public_fraction: float
    deadline: datetime | None
    closed_at: datetime | None
    is_closed: bool
    daily_submission_limit: int


class PlaygroundInfo(_Frozen):
    name: str
    owner: str
    input_type: InputType
    task_type: TaskType
    private: bool
    description: str
    eval_metric: Metric
    higher_is_better: bool
    classes: list[Any] | None
    feature_schema: list[Column]
    n_eval_rows: int
    has_eval_features: bool
    competition: CompetitionInfo
    members: list[str]
    n_submissions: int
    created_at: datetime


class QuotaInfo(_Frozen):
    limit: int
    used: int
    remaining: int
    resets_at: datetime


class SubmissionInfo(_Frozen):
    """One submission as the caller may see it (private scores removed when not allowed)."""

    playground: str
    version: int
    username: str
    submission_type: SubmissionType
    status: SubmissionStatus
    error: str | None = None
    description: str = ""
    created_at: datetime
    scored_at: datetime | None = None
    framework: str | None = None
    model_type: str | None = None
    has_model: bool = False
    has_original: bool = False
    has_preprocessor: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    custom_metadata: dict[str, Any] = Field(default_factory=dict)
    onnx_metadata: dict[str, Any] = Field(default_factory=dict)
    scores: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    intervals: dict[str, list[float]] = Field(default_factory=dict)
    verified: bool | None = None
    mismatch_fraction: float | None = None
    duplicate_of: int | None = None
    evaluated_by: dict[str, Any] = Field(default_factory=dict)


class LeaderboardRow(_Frozen):
    rank: int
    version: int
    username: str
    submission_type: SubmissionType
    created_at: datetime
    framework: str | None
    model_type: str | None
    description: str
    scores: dict[str, float | None]
    interval: list[float] | None
    private_scores: dict[str, float | None] | None = None
    private_interval: list[float] | None = None
    verified: bool | None
    mismatch_fraction: float | None
    duplicate_of: int | None
    metadata: dict[str, Any]
    custom_metadata: dict[str, Any]
    onnx_metadata: dict[str, Any]


class Leaderboard(_Frozen):
    playground: str
    board: Board
    metric: Metric
    higher_is_better: bool
    scored_on: Split
    ranked_on: Split
    shows_private: bool
    rows: list[LeaderboardRow]


class EvaluationResult(_Frozen):
    """What an evaluator returns for one submission."""

    ok: bool
    error: str | None = None
    scores: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    intervals: dict[str, list[float]] = Field(default_factory=dict)
    verified: bool = False
    mismatch_fraction: float | None = None
    predictions_sha256: str | None = None
    onnx_metadata: dict[str, Any] = Field(default_factory=dict)
    evaluated_by: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0


class PlaygroundSpec(BaseModel):
    """What a caller asks for when creating a playground."""

    model_config = ConfigDict(extra="forbid")
    name: str
    input_type: str = InputType.TABULAR.value
    task_type: str
    private: bool = False
    description: str = ""
    eval_metric: str | None = None
    public_fraction: float = 0.5
    daily_submission_limit: int | None = None
    competition_deadline: datetime | None = None


class SubmissionMeta(BaseModel):
    """The JSON part of a submission upload (the files travel beside it)."""

    model_config = ConfigDict(extra="forbid")
    submission_type: str = SubmissionType.EXPERIMENT.value
    description: str = ""
    framework: str | None = None
    model_type: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    custom_metadata: dict[str, Any] = Field(default_factory=dict)


class EvaluationJob(_Frozen):
    """Everything an evaluator needs to score one submission, by reference."""

    submission_id: int
    playground: str
    version: int
    task_type: TaskType
    eval_metric: Metric
    classes: list[Any] | None
    feature_schema: list[Column]
    eval_data_id: str
    has_competition_split: bool
    model_sha256: str | None
    predictions_sha256: str | None
    preprocessor_sha256: str | None = None
    artifact_url: str
    evaldata_dir: str
    bootstrap_samples: int


class Route(_Frozen):
    """What the prediction endpoint needs to serve one playground's runtime model."""

    playground: str
    version: int
    model_sha256: str
    task_type: TaskType
    classes: list[Any] | None
    feature_schema: list[Column]
    private: bool
    input_type: InputType = InputType.TABULAR
    preprocessor_sha256: str | None = None
    allowed_user_ids: list[int] = Field(default_factory=list)  # owner and members of a private one
    example: list[dict[str, Any]] = Field(default_factory=list)  # rows to warm the model with

    @property
    def model_key(self) -> str:
        return f"{self.model_sha256}:{self.playground}"


class LatencySummary(_Frozen):
    requests: int = 0
    errors: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


class DeploymentInfo(_Frozen):
    playground: str
    version: int
    deployed_at: datetime
    deployed_by: str
    predict_url: str
    ready: bool
    replicas_ready: int = 0
    replicas: int = 0
    stats: LatencySummary = Field(default_factory=LatencySummary)
