"""aims_spaces: playgrounds, fairly scored leaderboards and one-line model deployment.

The public facade of the participant's library (:mod:`aims_spaces.client`). The package has three
layers: ``core`` (shared by both sides), ``client`` (what a participant installs) and ``hub``
(the server, installed with the ``hub`` extra). Importing this package is cheap: no Ray, no
model, no network.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from .domain import (
    Board,
    InputType,
    Leaderboard,
    Metric,
    PlaygroundInfo,
    Signature,
    SubmissionInfo,
    SubmissionStatus,
    SubmissionType,
    TaskType,
    TeamInfo,
)
from .errors import (
    AimsError,
    AuthenticationRequired,
    CompetitionClosed,
    Conflict,
    EvaluationFailed,
    HubUnavailable,
    InvalidEvalData,
    InvalidInput,
    InvalidModel,
    InvalidName,
    InvalidPredictions,
    InvalidSpec,
    LimitReached,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    PlaygroundExists,
    PlaygroundNotFound,
    QuotaExceeded,
    SubmissionNotFound,
    TeamConflict,
    TeamNotFound,
    TooManyAttempts,
)

if TYPE_CHECKING:
    from .client import HubClient, ModelPlayground, OnnxPredictor, Submission, change_password, login, signup
    from .core.preprocess import AudioSpec, ImageSpec, TokenizerSpec, VideoSpec

# The client (pandas, httpx, onnx helpers) loads on first use, so that the hub's modules, which
# import this package first, do not pay for it.
_LAZY = {
    "HubClient": ".client",
    "ModelPlayground": ".client",
    "OnnxPredictor": ".client",
    "Submission": ".client",
    "login": ".client",
    "signup": ".client",
    "change_password": ".client",
    "AudioSpec": ".core.preprocess",
    "ImageSpec": ".core.preprocess",
    "TokenizerSpec": ".core.preprocess",
    "VideoSpec": ".core.preprocess",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AimsError",
    "AudioSpec",
    "AuthenticationRequired",
    "Board",
    "CompetitionClosed",
    "Conflict",
    "EvaluationFailed",
    "HubClient",
    "HubUnavailable",
    "ImageSpec",
    "InputType",
    "InvalidEvalData",
    "InvalidInput",
    "InvalidModel",
    "InvalidName",
    "InvalidPredictions",
    "InvalidSpec",
    "Leaderboard",
    "LimitReached",
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
    "Signature",
    "Submission",
    "SubmissionInfo",
    "SubmissionNotFound",
    "SubmissionStatus",
    "SubmissionType",
    "TaskType",
    "TeamConflict",
    "TeamInfo",
    "TeamNotFound",
    "TokenizerSpec",
    "TooManyAttempts",
    "VideoSpec",
    "__version__",
    "change_password",
    "login",
    "signup",
]
