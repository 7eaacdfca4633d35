"""aims_spaces: playgrounds, fairly scored leaderboards and one-line model deployment.

Importing this package is cheap: no Ray, no model, no network.
"""

__version__ = "0.1.0"

from .client import HubClient, login
from .domain import (
    Board,
    InputType,
    Leaderboard,
    Metric,
    PlaygroundInfo,
    SubmissionInfo,
    SubmissionStatus,
    SubmissionType,
    TaskType,
)
from .errors import (
    AimsError,
    AuthenticationRequired,
    Conflict,
    EvaluationFailed,
    HubUnavailable,
    InvalidEvalData,
    InvalidInput,
    InvalidModel,
    InvalidName,
    InvalidPredictions,
    InvalidSpec,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    PlaygroundExists,
    PlaygroundNotFound,
    QuotaExceeded,
    SubmissionNotFound,
)
from .playground import ModelPlayground, OnnxPredictor, Submission
from .settings import Settings

__all__ = [
    "AimsError",
    "AuthenticationRequired",
    "Board",
    "Conflict",
    "EvaluationFailed",
    "HubClient",
    "HubUnavailable",
    "InputType",
    "InvalidEvalData",
    "InvalidInput",
    "InvalidModel",
    "InvalidName",
    "InvalidPredictions",
    "InvalidSpec",
    "Leaderboard",
    "Metric",
    "ModelPlayground",
    "NotFound",
    "OnnxPredictor",
    "PayloadTooLarge",
    "PermissionDenied",
    "PlaygroundExists",
    "PlaygroundInfo",
    "PlaygroundNotFound",
    "QuotaExceeded",
    "Settings",
    "Submission",
    "SubmissionInfo",
    "SubmissionNotFound",
    "SubmissionStatus",
    "SubmissionType",
    "TaskType",
    "__version__",
    "login",
]
