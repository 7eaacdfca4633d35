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


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Column(_Frozen):
    """One input column of a playground."""

    name: str = Field(description="Column name, as in the eval features.")
    dtype: ColumnType = Field(description="Value type; image/audio/video columns hold encoded files.")
    categories: list[str] | None = Field(
        default=None, description="For a string column with few distinct values: the values seen."
    )


class Signature(_Frozen):
    """What a model must fit to take part in a playground, passed whole wherever a model is
    converted, checked, scored or served."""

    input_type: InputType = Field(description="Kind of input: tabular, text, image, audio or video.")
    task_type: TaskType = Field(description="Classification or regression.")
    feature_schema: list[Column] = Field(default_factory=list, description="The input columns, in order.")
    classes: list[Any] | None = Field(
        default=None,
        description="Classification: the ordered class list; a model's class scores follow it.",
    )

    @property
    def classification(self) -> bool:
        return self.task_type is TaskType.CLASSIFICATION

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.feature_schema]


class UserInfo(_Frozen):
    """An account on the hub."""

    username: str = Field(description="The user's login name.")
    is_admin: bool = Field(description="Admins may create users and manage every playground.")
    created_at: datetime = Field(description="When the account was created (UTC).")


class TokenInfo(_Frozen):
    """A freshly issued API token. The hub stores only its hash; this is the one chance to read it."""

    username: str = Field(description="Whom the token authenticates.")
    token: str = Field(description="Send as `Authorization: Bearer <token>`.")


class CompetitionInfo(_Frozen):
    """A playground's competition settings and state."""

    public_fraction: float = Field(
        description="Share of the eval rows that score the public board; the rest score the private board."
    )
    deadline: datetime | None = Field(description="When the competition closes by itself (UTC), if set.")
    closed_at: datetime | None = Field(description="When the owner closed it (UTC), if they did.")
    is_closed: bool = Field(
        description="Closed by the owner or past the deadline: private scores are public."
    )
    daily_submission_limit: int = Field(
        description="Competition submissions each participant may make per UTC day."
    )


class PlaygroundInfo(_Frozen):
    """A playground as the caller may see it."""

    name: str = Field(description="URL-safe name, unique on the hub.")
    owner: str = Field(description="Username of the owner.")
    signature: Signature = Field(description="What a submitted model must fit.")
    private: bool = Field(description="Private playgrounds are visible to their owner and members only.")
    description: str = Field(description="What the task is about (Markdown).")
    eval_metric: Metric = Field(description="The metric that ranks the boards.")
    higher_is_better: bool = Field(description="Direction of the ranking metric.")
    n_eval_rows: int = Field(description="Rows of held-out eval data.")
    has_eval_features: bool = Field(
        description="Whether the hub holds the eval features (then it runs models itself: verified scores)."
    )
    competition: CompetitionInfo = Field(description="Competition settings and state.")
    members: list[str] = Field(description="Usernames of the members (empty for visitors).")
    n_submissions: int = Field(description="Submissions so far, all states.")
    created_at: datetime = Field(description="When the playground was created (UTC).")

    @property
    def input_type(self) -> InputType:
        return self.signature.input_type

    @property
    def task_type(self) -> TaskType:
        return self.signature.task_type

    @property
    def feature_schema(self) -> list[Column]:
        return self.signature.feature_schema

    @property
    def classes(self) -> list[Any] | None:
        return self.signature.classes


class QuotaInfo(_Frozen):
    """The caller's competition submissions today."""

    limit: int = Field(description="Competition submissions allowed per UTC day.")
    used: int = Field(description="Used today (failed submissions do not count).")
    remaining: int = Field(description="Left today.")
    resets_at: datetime = Field(description="When the count starts again (midnight UTC).")


class SubmissionInfo(_Frozen):
    """One submission as the caller may see it (private scores removed when not allowed)."""

    playground: str = Field(description="The playground's name.")
    version: int = Field(description="Version number, unique within the playground, from 1.")
    username: str = Field(description="Who submitted it.")
    submission_type: SubmissionType = Field(description="Which boards it is on.")
    status: SubmissionStatus = Field(description="queued → running → scored or failed.")
    error: str | None = Field(default=None, description="Why evaluation failed, when it did.")
    description: str = Field(default="", description="The submitter's line about the model.")
    created_at: datetime = Field(description="When it was accepted (UTC).")
    scored_at: datetime | None = Field(default=None, description="When its evaluation finished (UTC).")
    framework: str | None = Field(default=None, description="sklearn, pytorch, keras, transformers or onnx.")
    model_type: str | None = Field(
        default=None, description="Class name of the model, e.g. RandomForestClassifier."
    )
    has_model: bool = Field(default=False, description="An ONNX model was uploaded.")
    has_original: bool = Field(
        default=False, description="The original (skops file or safetensors weights) was uploaded."
    )
    has_preprocessor: bool = Field(default=False, description="A preprocessor document was uploaded.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Extracted by the client: hyperparameters, layers, optimizer."
    )
    custom_metadata: dict[str, Any] = Field(default_factory=dict, description="Given by the submitter.")
    onnx_metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Extracted by the hub from the ONNX graph: operators, parameters, size.",
    )
    scores: dict[str, dict[str, float | None]] = Field(
        default_factory=dict,
        description="Split (all, public, private) → metric → value; splits the caller may not "
        "see are left out.",
    )
    intervals: dict[str, list[float]] = Field(
        default_factory=dict, description="Split → 95% bootstrap interval of the ranking metric."
    )
    verified: bool | None = Field(
        default=None, description="Scored from the hub's own run of the model, not from uploaded predictions."
    )
    mismatch_fraction: float | None = Field(
        default=None, description="Share of rows where uploaded predictions differ from the model's own."
    )
    duplicate_of: int | None = Field(
        default=None, description="An earlier version with exactly the same predictions, if any."
    )
    evaluated_by: dict[str, Any] = Field(
        default_factory=dict, description="Which evaluator scored it, and how long it took."
    )


class LeaderboardRow(_Frozen):
    """One scored submission on a board."""

    rank: int = Field(description="1 is best; ties go to the earlier version.")
    version: int = Field(description="The submission's version.")
    username: str = Field(description="Who submitted it.")
    submission_type: SubmissionType = Field(description="Which boards it is on.")
    created_at: datetime = Field(description="When it was submitted (UTC).")
    framework: str | None = Field(description="sklearn, pytorch, keras, transformers or onnx.")
    model_type: str | None = Field(description="Class name of the model.")
    description: str = Field(description="The submitter's line about the model.")
    scores: dict[str, float | None] = Field(description="Metric → value on the rows this board is scored on.")
    interval: list[float] | None = Field(description="95% bootstrap interval of the ranking metric.")
    private_scores: dict[str, float | None] | None = Field(
        default=None, description="Metric → value on the private rows, for those allowed to see them."
    )
    private_interval: list[float] | None = Field(
        default=None, description="95% interval on the private rows, for those allowed to see them."
    )
    verified: bool | None = Field(description="Scored from the hub's own run of the model.")
    mismatch_fraction: float | None = Field(
        description="Share of rows where uploaded predictions differ from the model's own."
    )
    duplicate_of: int | None = Field(description="An earlier version with the same predictions.")
    metadata: dict[str, Any] = Field(description="Extracted by the client (hyperparameters, layers).")
    custom_metadata: dict[str, Any] = Field(description="Given by the submitter.")
    onnx_metadata: dict[str, Any] = Field(description="Extracted by the hub from the ONNX graph.")


class Leaderboard(_Frozen):
    """A ranked board as the caller may see it."""

    playground: str = Field(description="The playground's name.")
    board: Board = Field(description="experiment or competition.")
    metric: Metric = Field(description="The ranking metric.")
    higher_is_better: bool = Field(description="Direction of the ranking metric.")
    scored_on: Split = Field(description="The rows the shown scores are computed on.")
    ranked_on: Split = Field(description="The rows the ranking uses (the private rows after the close).")
    shows_private: bool = Field(description="Whether rows carry private scores for this caller.")
    rows: list[LeaderboardRow] = Field(description="Best first.")


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
    signature: Signature
    eval_metric: Metric
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
    signature: Signature
    private: bool
    preprocessor_sha256: str | None = None
    allowed_user_ids: list[int] = Field(default_factory=list)  # owner and members of a private one
    example: list[dict[str, Any]] = Field(default_factory=list)  # rows to warm the model with

    @property
    def model_key(self) -> str:
        return f"{self.model_sha256}:{self.playground}"


class LatencySummary(_Frozen):
    """Request counts and latency percentiles of a deployment, over the model server's window."""

    requests: int = Field(default=0, description="Requests answered.")
    errors: int = Field(default=0, description="Requests answered with an error.")
    p50_ms: float | None = Field(default=None, description="Median latency (ms).")
    p95_ms: float | None = Field(default=None, description="95th percentile latency (ms).")
    p99_ms: float | None = Field(default=None, description="99th percentile latency (ms).")


class DeploymentInfo(_Frozen):
    """Which version a playground serves, and how the serving goes."""

    playground: str = Field(description="The playground's name.")
    version: int = Field(description="The version being served (the runtime model).")
    deployed_at: datetime = Field(description="When it was deployed (UTC).")
    deployed_by: str = Field(description="Who deployed it.")
    predict_url: str = Field(description="`POST` rows here for predictions.")
    ready: bool = Field(description="Every live replica has this version loaded.")
    replicas_ready: int = Field(default=0, description="Replicas with the version loaded.")
    replicas: int = Field(default=0, description="Live model-server replicas.")
    stats: LatencySummary = Field(default_factory=LatencySummary, description="Requests and latency.")
