"""Errors raised by aims_spaces, on the hub and in the client alike.

Every error the hub means to report is an :class:`AimsError`. Each subclass also inherits the
builtin exception that fits, so ``except LookupError`` works as a Python user expects::

    AimsError
    ├── InvalidInput (ValueError)                 422 -- the request itself is wrong
    │   ├── InvalidName                           422    a playground or user name that is not allowed
    │   ├── InvalidSpec                           422    unknown input type, task type, metric, option
    │   ├── InvalidEvalData                       422    empty, mismatched or NaN eval data
    │   ├── InvalidPredictions                    422    wrong length, dtype, unseen classes, NaN
    │   └── InvalidModel                          422    not ONNX, inputs that do not fit, unsafe skops
    ├── AuthenticationRequired (PermissionError)  401 -- no token, or a wrong one
    ├── PermissionDenied (PermissionError)        403 -- known caller, not allowed
    │   ├── LimitReached                          403    an account's playgrounds, storage or deployments
    │   └── ForbiddenOrigin                       403    a state-changing form post from another site
    ├── NotFound (LookupError)                    404
    │   ├── PlaygroundNotFound                    404
    │   ├── SubmissionNotFound                    404
    │   ├── UserNotFound                          404
    │   └── TeamNotFound                          404    no team with that join code, or in none
    ├── Conflict                                  409
    │   ├── PlaygroundExists                      409
    │   ├── UserExists                            409
    │   ├── CompetitionClosed                     409    a competition submission after the close
    │   └── TeamConflict                          409    a team name taken, or already in a team
    ├── PayloadTooLarge                           413
    ├── QuotaExceeded                             429 -- submissions per day while a competition is open
    ├── TooManyAttempts                           429 -- failed logins, per user and per address
    ├── ModelLoading                              503 -- the runtime model is still loading (Retry-After)
    ├── DeploymentFailed                          503 -- a model could not be loaded to serve
    ├── EvaluationFailed                          422 -- the client's wait() on a submission that failed
    ├── HubUnavailable (ConnectionError)          503 -- the client cannot reach the hub
    └── ServerError                               500 -- a bug in the hub; never raised on purpose

HTTP status <-> class is mapped here and nowhere else: :func:`http_status` on the hub side,
:func:`error_from_payload` on the client side (an unknown code falls back by status, and a plain
400 from a proxy or framework is read as :class:`InvalidInput`). The wire format is
``{"error": {"code": "<ClassName>", "message": "..."}}``.
"""

from __future__ import annotations

import re
from typing import Any

# Absolute paths of the machine that raised an error (a library's message may quote its source
# or data files): not for the caller's eyes. Paths the hub's own messages use (/api/..., URLs)
# start elsewhere or carry a scheme.
_MACHINE_PATH = re.compile(
    r"(?<![\w/.])/(?:tmp|home|root|usr|opt|var|etc|proc|dev|srv|work|mnt|run|sys|data|private|"
    r"onnxruntime_src|build|__w|snap|Users|Volumes|scratch|nfs|net|media|lib|lib64|bin|sbin|app|"
    r"workspace|content|gpfs|lustre)(?:/[^\s'\"():,;]*)?"
    r"|(?<![\w])[A-Za-z]:\\[^\s'\"():,;]*"  # Windows: C:\...
)
MAX_MESSAGE = 2000


def public_message(text: str) -> str:
    """``text`` fit for a caller: machine paths replaced by ``<path>``, at most 2,000 characters."""
    text = _MACHINE_PATH.sub("<path>", text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


class AimsError(Exception):
    """Root of every error aims_spaces raises on purpose."""

    status_code = 500
    # Caused in passing by the way to the server, not by the request: the same call may well
    # succeed a moment later (a connection refused or reset, a proxy's own 5xx while a replica
    # is replaced). The client retries these for idempotent calls (core/retry.py).
    transient = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_payload(self) -> dict[str, Any]:
        """The wire form; the message never carries a path of the machine that raised it."""
        return {"error": {"code": type(self).__name__, "message": public_message(self.message)}}


class InvalidInput(AimsError, ValueError):
    status_code = 422


class InvalidName(InvalidInput):
    pass


class InvalidSpec(InvalidInput):
    pass


class InvalidEvalData(InvalidInput):
    pass


class InvalidPredictions(InvalidInput):
    pass


class InvalidModel(InvalidInput):
    pass


class AuthenticationRequired(AimsError, PermissionError):
    status_code = 401


class PermissionDenied(AimsError, PermissionError):
    status_code = 403


class NotFound(AimsError, LookupError):
    status_code = 404


class PlaygroundNotFound(NotFound):
    pass


class SubmissionNotFound(NotFound):
    pass


class UserNotFound(NotFound):
    pass


class TeamNotFound(NotFound):
    """No team with that join code in the playground, or the caller is in none."""


class LimitReached(PermissionDenied):
    """An account holds as many playgrounds, stored bytes or deployed models as it may."""


class ForbiddenOrigin(PermissionDenied):
    """A state-changing request sent by a page of another site (cross-site request forgery)."""


class Conflict(AimsError):
    status_code = 409


class PlaygroundExists(Conflict):
    pass


class UserExists(Conflict):
    pass


class CompetitionClosed(Conflict):
    """The competition has closed (by its owner or its deadline): its standing is final."""


class TeamConflict(Conflict):
    """A team name taken, or a participant already in another team."""


class PayloadTooLarge(AimsError):
    status_code = 413


class QuotaExceeded(AimsError):
    status_code = 429


class TooManyAttempts(AimsError):
    """Too many failed logins for this user or from this address; wait and retry."""

    status_code = 429


class ModelLoading(AimsError):
    """The playground's runtime model is loading; retry shortly (a Retry-After header says when)."""

    status_code = 503


class DeploymentFailed(AimsError):
    """The model server could not load or run a model it was asked to deploy."""

    status_code = 503


class EvaluationFailed(AimsError):
    """A submission was rejected by its evaluator (the model crashed or gave bad output)."""

    status_code = 422


class HubUnavailable(AimsError, ConnectionError):
    status_code = 503
    transient = True


class ServerError(AimsError):
    status_code = 500


def _all_subclasses(cls: type[AimsError]) -> list[type[AimsError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


_BY_CODE: dict[str, type[AimsError]] = {c.__name__: c for c in _all_subclasses(AimsError)}


def http_status(error: AimsError) -> int:
    """The HTTP status the hub answers with for ``error``."""
    return error.status_code


def error_from_payload(status: int, payload: Any) -> AimsError:
    """Rebuild the typed error from a hub response (the client side of :func:`http_status`)."""
    code, message = None, None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        code = payload["error"].get("code")
        message = payload["error"].get("message")
    if message is None:
        message = f"the hub answered HTTP {status}: {str(payload)[:500]}"
    cls = _BY_CODE.get(code or "")
    if cls is None:
        cls = _fallback_class(status)
    error = cls(message)
    error.transient = False  # the server's own answer, whatever its class says of itself
    if code is None and status in (500, 502, 503, 504):
        # Not the hub's nor the model server's answer (theirs are typed JSON errors): a proxy's
        # on the way, e.g. Ray Serve's plain-text 500 for a request whose replica was lost.
        error.transient = True
    return error


def _fallback_class(status: int) -> type[AimsError]:
    for cls in (
        InvalidInput,
        AuthenticationRequired,
        PermissionDenied,
        NotFound,
        Conflict,
        PayloadTooLarge,
        QuotaExceeded,
    ):
        if cls.status_code == status:
            return cls
    if status == 400:
        return InvalidInput
    return ServerError


__all__ = [c.__name__ for c in _all_subclasses(AimsError)] + [
    "error_from_payload",
    "http_status",
    "public_message",
]
