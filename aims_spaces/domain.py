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
    BALANCED_ACCURACY = "balanced_accuracy"
    F1_MACRO = "f1_macro"
    F1_MICRO = "f1_micro"
    F1_WEIGHTED = "f1_weighted"
    PRECISION_MACRO = "precision_macro"
    PRECISION_MICRO = "precision_micro"
    PRECISION_WEIGHTED = "precision_weighted"
    RECALL_MACRO = "recall_macro"
    RECALL_MICRO = "recall_micro"
    RECALL_WEIGHTED = "recall_weighted"
    MCC = "mcc"
    COHEN_KAPPA = "cohen_kappa"
    COHEN_KAPPA_QUADRATIC = "cohen_kappa_quadratic"
    LOG_LOSS = "log_loss"
    ROC_AUC = "roc_auc"
    TOP_2_ACCURACY = "top_2_accuracy"
    TOP_3_ACCURACY = "top_3_accuracy"
    TOP_5_ACCURACY = "top_5_accuracy"
    MSE = "mse"
    RMSE = "rmse"
    MAE = "mae"
    MEDIAN_AE = "median_ae"
    MAPE = "mape"
    R2 = "r2"
    EXPLAINED_VARIANCE = "explained_variance"
    PINBALL_10 = "pinball_10"
    PINBALL_25 = "pinball_25"
    PINBALL_50 = "pinball_50"
    PINBALL_75 = "pinball_75"
    PINBALL_90 = "pinball_90"

    @property
    def higher_is_better(self) -> bool:
        return self in _HIGHER_IS_BETTER

    @property
    def task_type(self) -> TaskType:
        return TaskType.REGRESSION if self in _REGRESSION else TaskType.CLASSIFICATION

    @property
    def needs_probabilities(self) -> bool:
        return self in _NEEDS_PROBABILITIES

    @property
    def label(self) -> str:
        """A short name for people, e.g. ``"F1 (macro)"``."""
        return _INFO[self][0]

    @property
    def description(self) -> str:
        """One line on what the metric measures."""
        return _INFO[self][1]


_HIGHER_IS_BETTER = {
    Metric.ACCURACY,
    Metric.BALANCED_ACCURACY,
    Metric.F1_MACRO,
    Metric.F1_MICRO,
    Metric.F1_WEIGHTED,
    Metric.PRECISION_MACRO,
    Metric.PRECISION_MICRO,
    Metric.PRECISION_WEIGHTED,
    Metric.RECALL_MACRO,
    Metric.RECALL_MICRO,
    Metric.RECALL_WEIGHTED,
    Metric.MCC,
    Metric.COHEN_KAPPA,
    Metric.COHEN_KAPPA_QUADRATIC,
    Metric.ROC_AUC,
    Metric.TOP_2_ACCURACY,
    Metric.TOP_3_ACCURACY,
    Metric.TOP_5_ACCURACY,
    Metric.R2,
    Metric.EXPLAINED_VARIANCE,
}
_REGRESSION = {
    Metric.MSE,
    Metric.RMSE,
    Metric.MAE,
    Metric.MEDIAN_AE,
    Metric.MAPE,
    Metric.R2,
    Metric.EXPLAINED_VARIANCE,
    Metric.PINBALL_10,
    Metric.PINBALL_25,
    Metric.PINBALL_50,
    Metric.PINBALL_75,
    Metric.PINBALL_90,
}
_NEEDS_PROBABILITIES = {
    Metric.LOG_LOSS,
    Metric.ROC_AUC,
    Metric.TOP_2_ACCURACY,
    Metric.TOP_3_ACCURACY,
    Metric.TOP_5_ACCURACY,
}


def _pinball_info(q: float) -> tuple[str, str]:
    return (
        f"Pinball loss (q={q:g})",
        f"Mean quantile loss at q={q:g}: each unit of under-prediction costs {q:g}, "
        f"of over-prediction {1 - q:g}.",
    )


def _top_k_info(k: int) -> tuple[str, str]:
    return (
        f"Top-{k} accuracy",
        f"Fraction of rows whose true class is among the {k} most probable classes "
        f"(always 1 with at most {k} classes).",
    )


# Metric -> (label, description), for the pages, the client and the docs.
_INFO: dict[Metric, tuple[str, str]] = {
    Metric.ACCURACY: ("Accuracy", "Fraction of rows whose predicted class is the true class."),
    Metric.BALANCED_ACCURACY: (
        "Balanced accuracy",
        "Mean of the per-class recalls over the classes in the truth; robust to class imbalance.",
    ),
    Metric.F1_MACRO: ("F1 (macro)", "Unweighted mean of the per-class F1 scores."),
    Metric.F1_MICRO: ("F1 (micro)", "F1 of all rows pooled; equals accuracy for single-label data."),
    Metric.F1_WEIGHTED: ("F1 (weighted)", "Mean of the per-class F1 scores weighted by class frequency."),
    Metric.PRECISION_MACRO: ("Precision (macro)", "Unweighted mean of the per-class precisions."),
    Metric.PRECISION_MICRO: (
        "Precision (micro)",
        "Precision of all rows pooled; equals accuracy for single-label data.",
    ),
    Metric.PRECISION_WEIGHTED: (
        "Precision (weighted)",
        "Mean of the per-class precisions weighted by class frequency.",
    ),
    Metric.RECALL_MACRO: ("Recall (macro)", "Unweighted mean of the per-class recalls."),
    Metric.RECALL_MICRO: (
        "Recall (micro)",
        "Recall of all rows pooled; equals accuracy for single-label data.",
    ),
    Metric.RECALL_WEIGHTED: (
        "Recall (weighted)",
        "Mean of the per-class recalls weighted by class frequency; equals accuracy.",
    ),
    Metric.MCC: ("MCC", "Matthews correlation between true and predicted classes, from -1 to 1."),
    Metric.COHEN_KAPPA: (
        "Cohen's kappa",
        "Agreement of predictions with the truth beyond chance, from -1 to 1.",
    ),
    Metric.COHEN_KAPPA_QUADRATIC: (
        "Cohen's kappa (quadratic)",
        "Kappa with disagreements weighted by the squared distance between the classes' positions "
        "(for ordered classes).",
    ),
    Metric.LOG_LOSS: ("Log loss", "Mean negative log of the probability given to the true class."),
    Metric.ROC_AUC: ("ROC AUC", "One-vs-rest area under the ROC curve, averaged over the classes present."),
    Metric.TOP_2_ACCURACY: _top_k_info(2),
    Metric.TOP_3_ACCURACY: _top_k_info(3),
    Metric.TOP_5_ACCURACY: _top_k_info(5),
    Metric.MSE: ("MSE", "Mean squared error."),
    Metric.RMSE: ("RMSE", "Square root of the mean squared error, in the target's units."),
    Metric.MAE: ("MAE", "Mean absolute error."),
    Metric.MEDIAN_AE: ("Median AE", "Median absolute error; insensitive to a few large errors."),
    Metric.MAPE: ("MAPE", "Mean absolute error relative to the true value's magnitude (a fraction, not %)."),
    Metric.R2: ("R²", "Coefficient of determination: 1 - squared error / variance of the truth."),
    Metric.EXPLAINED_VARIANCE: (
        "Explained variance",
        "1 - variance of the errors / variance of the truth (ignores a constant bias).",
    ),
    Metric.PINBALL_10: _pinball_info(0.1),
    Metric.PINBALL_25: _pinball_info(0.25),
    Metric.PINBALL_50: _pinball_info(0.5),
    Metric.PINBALL_75: _pinball_info(0.75),
    Metric.PINBALL_90: _pinball_info(0.9),
}

DEFAULT_METRIC = {TaskType.CLASSIFICATION: Metric.ACCURACY, TaskType.REGRESSION: Metric.RMSE}
# The metric columns a board shows unless its owner chose others (every applicable metric is
# computed and kept; these are only what is displayed).
DEFAULT_SHOWN_METRICS = {
    TaskType.CLASSIFICATION: [
        Metric.ACCURACY,
        Metric.F1_MACRO,
        Metric.PRECISION_MACRO,
        Metric.RECALL_MACRO,
        Metric.LOG_LOSS,
        Metric.ROC_AUC,
    ],
    TaskType.REGRESSION: [Metric.MSE, Metric.RMSE, Metric.MAE, Metric.R2],
}


def parse_enum(enum: type[E], value: Any, what: str) -> E:
    """``enum(value)`` with an error that lists the allowed values."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum)
        raise InvalidSpec(f"unknown {what} {value!r}; expected one of {allowed}") from None


def check_playground_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidName(
            f"invalid playground name {name!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting and ending with a letter or digit (no '/', '.', spaces or other path "
            "characters)"
        )
    return name


def check_username(name: Any) -> str:
    if not isinstance(name, str) or not USERNAME_PATTERN.fullmatch(name):
        raise InvalidName(
            f"invalid username {name!r}: use 1-40 letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit"
        )
    return name


MAX_VERSION = 2**31 - 1  # versions are 32-bit integers in every registry backend
# Control characters other than tab and newline (C0, DEL, C1) and the Unicode line/paragraph
# separators; lone surrogates are caught by the UTF-8 round trip in check_text.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_JSON_DEPTH = 32


def check_version(version: Any, what: str = "version") -> int:
    """A submission version: a whole number in 1..2**31-1 (larger ones exist in no registry)."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidSpec(f"{what} must be a whole number, got {version!r}")
    if not 1 <= version <= MAX_VERSION:
        raise InvalidSpec(f"{what} must be between 1 and {MAX_VERSION}, got {version}")
    return version


def check_text(value: Any, what: str, *, max_length: int, multiline: bool = False) -> str:
    """Text a user gave (a description, a token's label, a metadata string): a ``str`` of valid
    Unicode (no lone surrogates) without control characters (tab and newline allowed in
    ``multiline`` text), at most ``max_length`` characters."""
    if not isinstance(value, str):
        raise InvalidSpec(f"{what} must be text, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSpec(f"{what} is not valid Unicode text (it holds a lone surrogate)") from None
    if (_CONTROL if multiline else _CONTROL_ONE_LINE).search(value):
        allowed = " (tab and newline are fine)" if multiline else ""
        raise InvalidSpec(f"{what} holds control characters{allowed}")
    if len(value) > max_length:
        raise InvalidSpec(f"{what} is longer than {max_length:,} characters ({len(value):,})")
    return value


def check_json(value: Any, what: str, *, max_text: int = 10_000) -> Any:
    """A JSON document a user gave (metadata): finite numbers only (NaN and infinities are not
    JSON), text keys, valid text, at most :data:`MAX_JSON_DEPTH` levels deep."""

    def walk(v: Any, path: str, depth: int) -> None:
        if depth > MAX_JSON_DEPTH:
            raise InvalidSpec(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
        if v is None or isinstance(v, bool):
            return
        if isinstance(v, int):
            if abs(v) > 2**63 - 1:
                raise InvalidSpec(f"{what}{path}: the integer {v} is out of range (64 bits at most)")
            return
        if isinstance(v, float):
            if v != v or v in (float("inf"), float("-inf")):
                raise InvalidSpec(f"{what}{path}: {v} is not a finite number (JSON has no NaN or infinity)")
            return
        if isinstance(v, str):
            check_text(v, f"{what}{path}", max_length=max_text, multiline=True)
            return
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    raise InvalidSpec(f"{what}{path}: keys must be text, got {type(k).__name__}")
                check_text(k, f"{what}{path}: a key", max_length=256)
                walk(item, f"{path}.{k}", depth + 1)
            return
        if isinstance(v, (list, tuple)):
            for i, item in enumerate(v):
                walk(item, f"{path}[{i}]", depth + 1)
            return
        raise InvalidSpec(f"{what}{path}: {type(v).__name__} is not a JSON value")

    walk(value, "", 0)
    return value


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


class TokenKind(StrEnum):
    API = "api"  # `aims login`, the REST login, a new user's first token
    SESSION = "session"  # the web UI's login cookie
    SIGNIN = "signin"  # a one-time sign-in link (roster import): sets a password, nothing else


class TokenDetails(_Frozen):
    """One of the caller's tokens, as listed for review (the token itself is never shown again)."""

    id: int = Field(description="Identifies the token for revoking it.")
    name: str = Field(description="The label given at login (where it is used).")
    kind: TokenKind = Field(description="api (aims login, REST) or session (a web login).")
    created_at: datetime = Field(description="When it was issued (UTC).")
    expires_at: datetime = Field(description="When it stops working (UTC).")
    current: bool = Field(description="The token this request was made with.")


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
        description="Competition submissions each participant (or team) may make per UTC day."
    )
    start: datetime | None = Field(
        default=None, description="When the competition started (UTC): the playground's creation unless set."
    )
    final_selections: int = Field(
        default=2, description="Final entries each team or participant may select for the private standing."
    )
    team_size_limit: int = Field(default=4, description="Most members a team may have (1: no teams).")


class PlaygroundInfo(_Frozen):
    """A playground as the caller may see it."""

    name: str = Field(description="URL-safe name, unique on the hub.")
    owner: str = Field(description="Username of the owner.")
    signature: Signature = Field(description="What a submitted model must fit.")
    private: bool = Field(description="Private playgrounds are visible to their owner and members only.")
    description: str = Field(description="What the task is about (Markdown).")
    eval_metric: Metric = Field(description="The metric that ranks the boards.")
    higher_is_better: bool = Field(description="Direction of the ranking metric.")
    shown_metrics: list[Metric] = Field(
        default_factory=list, description="The metric columns the boards show (the ranking metric first)."
    )
    n_eval_rows: int = Field(description="Rows of held-out eval data.")
    has_eval_features: bool = Field(
        description="Whether the hub holds the eval features (then it runs models itself: verified scores)."
    )
    competition: CompetitionInfo = Field(description="Competition settings and state.")
    members: list[str] = Field(description="Usernames of the members (empty for visitors).")
    co_owners: list[str] = Field(
        default_factory=list, description="Members who manage the playground with its owner (co-owners)."
    )
    n_submissions: int = Field(description="Submissions so far, all states.")
    n_participants: int = Field(default=0, description="People who have submitted so far.")
    pages: dict[str, str] = Field(
        default_factory=dict, description="The owner's pages in Markdown: data, evaluation, rules."
    )
    data_changes: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Changes to the eval data or ranking metric after creation (at, by, what), oldest first; "
        "every scored submission was scored again after each.",
    )
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
    team: str | None = Field(default=None, description="The team it belongs to, if the submitter is in one.")
    selected: bool = Field(default=False, description="Selected as a final entry for the private standing.")
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
    team: str | None = Field(default=None, description="The team it belongs to, if any.")
    entries: int | None = Field(
        default=None,
        description="On the competition board (one row per team or participant): how many scored "
        "entries the team or participant made.",
    )
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
    data_changed_at: datetime | None = Field(
        default=None,
        description="When the eval data or ranking metric last changed (scores are from after it).",
    )
    rescoring: int = Field(default=0, description="Submissions being scored again after that change.")


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
    # What it was scored against (set by the evaluator from its job): a result for eval data or a
    # ranking metric that has since changed is set aside.
    eval_data_id: str | None = None
    eval_metric: str | None = None


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
    competition_start: datetime | None = None
    final_selections: int = 2
    team_size_limit: int = 4
    shown_metrics: list[str] | None = None  # metric columns the boards show; None: the task's usual ones


class TeamInfo(_Frozen):
    """A team of participants in one playground's competition."""

    playground: str = Field(description="The playground's name.")
    name: str = Field(description="The team's name, unique in the playground.")
    members: list[str] = Field(description="Usernames, in the order they joined.")
    created_at: datetime = Field(description="When the team was made (UTC).")
    join_code: str | None = Field(
        default=None,
        description="The code others join with: only in the answer that made it (create, new code).",
    )


class InvitationInfo(_Frozen):
    """A link to join a playground (and sign up on the way)."""

    id: int = Field(description="The invitation's id (to revoke it).")
    playground: str = Field(description="The playground it leads to.")
    role: str = Field(description="The role it gives: member or co-owner.")
    email_domain: str | None = Field(description="Only for e-mail addresses at this domain, if set.")
    max_uses: int = Field(description="How many people may use it.")
    uses: int = Field(description="How many have.")
    created_at: datetime = Field(description="When it was made (UTC).")
    expires_at: datetime = Field(description="When it stops working (UTC).")
    code: str | None = Field(default=None, description="The link's code: only in the answer that made it.")
    path: str | None = Field(
        default=None, description="The link on this hub (`/join/<code>`): only in the answer that made it."
    )


class RosterEntry(_Frozen):
    """One row of an imported class list."""

    username: str = Field(description="The account.")
    created: bool = Field(description="Whether the import made the account (else it existed and joined).")
    signin_path: str | None = Field(
        default=None,
        description="For a new account: its one-time sign-in link (`/signin/<code>`), which sets its "
        "password. Shown this once.",
    )


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
    # Where the artifacts and the eval data are, as fsspec URLs: an evaluator on any node of a
    # cluster reads them there, never from a path on the hub's disk.
    artifact_url: str
    evaldata_url: str
    bootstrap_samples: int
    # The hub's bounds on decoding media (aims_spaces.core.limits.DecodeLimits as a dict; empty:
    # the defaults), so evaluators on any node decode the eval data as the hub checked it.
    decode_limits: dict[str, Any] = Field(default_factory=dict)
    # Whose it is, for fair scheduling (None: an admin's, which no per-account cap holds back).
    account: int | None = None


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
