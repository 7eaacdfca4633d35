"""The hub's REST API: a thin FastAPI shell over the service layer.

Every error leaves as ``{"error": {"code", "message"}}`` with the status from
:mod:`aims_spaces.errors`. DataFrames travel as Parquet (``application/vnd.apache.parquet``).
OpenAPI is served at ``/openapi.json`` and browsable at ``/docs``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..core.frames import standings_frame
from ..core.tabular import frame_to_parquet, parquet_to_frame
from ..domain import (
    MAX_VERSION,
    NAME_PATTERN,
    DeploymentInfo,
    InvitationInfo,
    Leaderboard,
    PlaygroundInfo,
    PlaygroundSpec,
    QuotaInfo,
    RosterEntry,
    SubmissionInfo,
    SubmissionMeta,
    TeamInfo,
    TokenDetails,
    TokenInfo,
    UserInfo,
)
from ..errors import (
    AimsError,
    AuthenticationRequired,
    DeploymentFailed,
    InvalidEvalData,
    InvalidInput,
    InvalidPredictions,
    InvalidSpec,
    NotFound,
    PayloadTooLarge,
    ServerError,
    http_status,
)
from .access import Caller
from .api_data import data_router
from .competition import MAX_DAILY_LIMIT, MAX_FINAL_SELECTIONS, MAX_TEAM_SIZE
from .invitations import MAX_INVITATION_HOURS, MAX_INVITATION_USES, MAX_ROSTER
from .service import Hub
from .submissions import SubmissionUpload, original_format

log = logging.getLogger(__name__)

PARQUET = "application/vnd.apache.parquet"
M = TypeVar("M", bound=BaseModel)


_FORWARDED = ("authorization", "content-type")
_ANSWERED = ("content-type", "retry-after")


# Forwards at once; more wait their turn (each may hold a body of up to AIMS_MAX_PREDICT_MB).
_FORWARDS = asyncio.Semaphore(8)


def _may_predict(hub: Hub, token: str | None, name: str) -> bool:
    """Whether the model server would take this caller's request for ``name`` (a deployed
    playground the caller may see), decided before the body is read."""
    try:
        caller = hub.accounts.authenticate(token) if token else None
    except AimsError:
        caller = None
    try:
        hub.playgrounds.overview(caller, name)
    except AimsError:
        return False
    return name in hub.deployments.serving_versions([name])


async def forward_prediction(hub: Hub, name: str, request: Request) -> Response:
    import httpx

    if not NAME_PATTERN.fullmatch(name):  # never a path of Serve's own
        raise NotFound(f"no playground named {name!r}")
    settings = hub.settings
    allowed = await run_in_threadpool(_may_predict, hub, bearer_token(request.scope["headers"]), name)
    headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
    async with _FORWARDS:
        # A caller the model server would refuse is forwarded without the body, unread: the
        # answer is the model server's own refusal (the same 404 a prober gets on its port).
        body = await request.body() if allowed else b""  # bounded by RequestGuard
        try:
            async with httpx.AsyncClient(timeout=settings.predict_timeout_s + 10) as client:
                url = f"{settings.serve_url}/{name}/predict"
                answer = await client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeploymentFailed(
                f"the model server did not answer within {settings.predict_timeout_s + 10:.0f} s"
            ) from None
        except httpx.TransportError:
            raise DeploymentFailed("the model server is not reachable; try again in a moment") from None
    kept = {k: v for k, v in answer.headers.items() if k.lower() in _ANSWERED}
    return Response(answer.content, status_code=answer.status_code, headers=kept)


def _error_response(error: AimsError) -> JSONResponse:
    return JSONResponse(error.to_payload(), status_code=http_status(error))


def _parse_json(model: type[M], text: str, what: str) -> M:
    try:
        return model.model_validate_json(text)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or what}: {err['msg']}" for err in e.errors()
        )
        raise InvalidSpec(f"invalid {what}: {problems}") from None


UPLOADS = re.compile(r"^/api/playgrounds(?:/[^/]+/(?:submissions|eval-data))?/?$")  # POST: files
DATA_UPLOADS = re.compile(r"^/api/playgrounds/[^/]+/data/?$")  # PUT: training data (api_data.py)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANONYMOUS_WRITES = frozenset({"/api/login", "/api/signup"})
# POST: a prediction forwarded to the model server, which checks the caller (visitors may call a
# public playground's model) with the same rules as on its own port.
PREDICT = re.compile(r"^/api/playgrounds/[^/]+/predict/?$")


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header in raw ASGI headers."""
    for key, value in headers:
        if key == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip() or None
    return None


class RequestGuard:
    """Every REST request is checked before its body is read: a write must come with a valid
    API token (so a stranger's upload is refused unread), and a body may be at most the size its
    endpoint takes — ``max_upload_mb`` for the upload endpoints, ``max_request_kb`` for the
    rest. The caller found here is handed to the endpoint, which does not look it up again."""

    def __init__(self, app: ASGIApp, hub: Hub) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        settings = self.hub.settings
        method = scope["method"]
        predict = method == "POST" and PREDICT.match(path) is not None
        if method in WRITES and path.rstrip("/") not in ANONYMOUS_WRITES and not predict:
            try:
                caller = await run_in_threadpool(
                    self.hub.accounts.authenticate, bearer_token(scope["headers"])
                )
                if caller is None:
                    raise AuthenticationRequired(
                        "this needs an API token: log in with `aims login`, or set AIMS_TOKEN"
                    )
            except AimsError as e:
                await _error_response(e)(scope, receive, send)
                return
            scope.setdefault("state", {})["aims_caller"] = caller
        if (method == "POST" and UPLOADS.match(path)) or (method == "PUT" and DATA_UPLOADS.match(path)):
            limit, setting = settings.max_upload_bytes, "AIMS_MAX_UPLOAD_MB"
        elif predict:
            limit, setting = settings.max_predict_bytes, "AIMS_MAX_PREDICT_MB"
        else:
            limit, setting = settings.max_request_bytes, "AIMS_MAX_REQUEST_KB"
        await limit_body(self.app, scope, receive, send, limit, setting)


async def limit_body(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int, setting: str
) -> None:
    """Pass the request on if its body fits in ``limit`` bytes; answer 413 otherwise (from the
    Content-Length before reading anything, or as soon as a streamed body passes the limit)."""
    too_large = PayloadTooLarge(f"the request body is larger than the limit of {_size(limit)} ({setting})")
    length = None
    for key, value in scope["headers"]:
        if key == b"content-length":
            length = value
    if length is not None and (not length.isdigit() or int(length) > limit):
        await _error_response(too_large)(scope, receive, send)
        return
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large
        return message

    await app(scope, limited, send)


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n / 2**10:g} KiB"


class ChangeSignal:
    """Wakes long-polling requests when any submission finishes (set from any thread)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._future: asyncio.Future[None] | None = None

    def current(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        if self.loop is not loop or self._future is None:
            self.loop = loop
            self._future = loop.create_future()
        return self._future

    def notify(self) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        fut, self._future = self._future, (self.loop.create_future() if self.loop else None)
        if fut is not None and not fut.done():
            fut.set_result(None)


class LoginRequest(BaseModel):
    """A username and password, exchanged for a new API token."""

    username: str = Field(description="The account's username.")
    password: str = Field(description="Its password.")
    token_name: str = Field(default="", description="A label for the new token (where it is used).")


class NewUserRequest(BaseModel):
    """An account an admin creates."""

    username: str = Field(description="1-40 letters, digits, '-', '_' or '.'.")
    password: str | None = Field(default=None, description="At least 8 characters; generated if left out.")
    is_admin: bool = Field(default=False, description="Make the user an admin.")


class NewUserResponse(BaseModel):
    """The new account, its first API token and its password (shown this once)."""

    user: UserInfo = Field(description="The account.")
    token: str = Field(description="A first API token for it.")
    password: str = Field(description="Its password, as given or generated.")


class MemberRequest(BaseModel):
    """Whom to add to a playground, or whose role to change."""

    username: str = Field(description="An existing user's name.")
    role: str = Field(default="member", description="`member`, or `co-owner` (manages all but deletion).")


class SignupRequest(BaseModel):
    """A new account: through an invitation link's code, or openly where the hub allows it."""

    username: str = Field(description="1-40 letters, digits, '-', '_' or '.'.")
    password: str = Field(description="At least 8 characters.")
    email: str | None = Field(
        default=None, description="Needed for an invitation limited to an e-mail domain."
    )
    code: str | None = Field(default=None, description="The invitation link's code (`/join/<code>`).")


class JoinRequest(BaseModel):
    """An invitation link's code, accepted by a logged-in user."""

    code: str = Field(description="The code of the invitation link (`/join/<code>`).")
    email: str | None = Field(default=None, description="For an invitation limited to an e-mail domain.")


class InvitationRequest(BaseModel):
    """A new invitation link's limits."""

    expires_in_hours: float = Field(
        default=168, gt=0, le=MAX_INVITATION_HOURS, description="How long it works."
    )
    max_uses: int = Field(default=50, ge=1, le=MAX_INVITATION_USES, description="How many people may use it.")
    email_domain: str | None = Field(default=None, description="Only for addresses at this domain.")
    role: str = Field(default="member", description="The role it gives: `member` or `co-owner`.")


class RosterRequest(BaseModel):
    """A class list: a username and an optional e-mail per person."""

    rows: list[dict[str, str | None]] = Field(
        max_length=MAX_ROSTER,
        description='Up to 500 rows like `{"username": "ann", "email": "ann@uni.edu"}`.',
    )


class PasswordChange(BaseModel):
    """Your current password and the new one."""

    current: str = Field(description="Your password now.")
    new: str = Field(description="At least 8 characters.")


class PasswordReset(BaseModel):
    """An admin's reset of another user's password."""

    password: str | None = Field(default=None, description="The new password; generated if left out.")


class PasswordResetResponse(BaseModel):
    """The new password, to hand to its user (shown this once)."""

    username: str = Field(description="The account.")
    password: str = Field(description="Its new password.")


class CompetitionUpdate(BaseModel):
    """Competition settings to change (owner only); fields left out stay as they are."""

    deadline: datetime | None = Field(default=None, description="When the competition closes by itself.")
    clear_deadline: bool = Field(default=False, description="Remove the deadline.")
    daily_submission_limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DAILY_LIMIT,
        description="Scored submissions per participant per UTC day while the competition is open.",
    )
    final_selections: int | None = Field(
        default=None,
        ge=1,
        le=MAX_FINAL_SELECTIONS,
        description="Final entries each team or participant may select (while the competition is open).",
    )
    team_size_limit: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TEAM_SIZE,
        description="Most members a team may have; 1 means no teams (while the competition is open).",
    )


class PlaygroundUpdate(BaseModel):
    """What to change of a playground (owner or co-owner); fields left out stay as they are."""

    description: str | None = Field(default=None, description="The overview page (Markdown).")
    pages: dict[str, str] | None = Field(
        default=None, description="Pages to replace, by name: `data`, `evaluation`, `rules` (Markdown)."
    )
    private: bool | None = Field(default=None, description="Visible to members only.")
    eval_metric: str | None = Field(
        default=None, description="A new ranking metric: only before the competition starts (or has entries)."
    )
    shown_metrics: list[str] | None = Field(default=None, description="The metric columns the boards show.")


class TeamRequest(BaseModel):
    """A new team's name."""

    name: str = Field(description="Unique in the playground, at most 64 characters.")


class TeamJoinRequest(BaseModel):
    """A team's join code, as its members got it."""

    code: str = Field(description="The join code.")


class FinalSelection(BaseModel):
    """The versions to stand by in the private standing (an empty list clears the choice)."""

    versions: list[int] = Field(
        max_length=MAX_FINAL_SELECTIONS, description="Scored competition entries of your team (or yours)."
    )


class DeployRequest(BaseModel):
    """Which version to serve."""

    version: int = Field(ge=1, le=MAX_VERSION, description="A scored submission's version that has a model.")


class Health(BaseModel):
    """The hub is up."""

    status: str = Field(description="Always `ok` when the hub answers.")
    version: str = Field(description="The hub's version.")
    evaluations_pending: int | None = Field(description="Evaluations running or waiting in Ray.")


_bearer = HTTPBearer(auto_error=False, description="An API token from `aims login`.")


def standings_csv_bytes(board: Leaderboard) -> bytes:
    return standings_frame(board).to_csv(index=False).encode()


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller | None:
    known = request.scope.get("state", {}).get("aims_caller")
    if known is not None:  # a write: RequestGuard authenticated it before reading the body
        return known  # type: ignore[no-any-return]
    hub: Hub = request.app.state.hub
    return hub.accounts.authenticate(credentials.credentials if credentials else None)


CallerDep = Annotated[Caller | None, Depends(_caller)]


def create_app(hub: Hub) -> FastAPI:
    # Swagger UI from the hub itself (fastapi-offline ships its assets), so /docs works with no
    # network; the assets sit under /docs/ (outside the web UI's guard). No ReDoc: its page
    # fetches its logo from a CDN.
    app = FastAPIOffline(
        redoc_url=None,
        static_url="/docs/assets",
        favicon_url="/docs/assets/favicon.png",
        title="aims_spaces hub",
        version=__version__,
        description="Playgrounds, fairly scored leaderboards and model submissions. "
        "Authenticate with `Authorization: Bearer <token>`.",
    )
    app.add_middleware(RequestGuard, hub=hub)
    signal = ChangeSignal()
    hub.submissions.on_change(signal.notify)
    app.state.hub = hub
    limits = hub.settings.decode_limits

    @app.exception_handler(AimsError)
    async def _aims_error(_: Request, exc: AimsError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()
        )
        return _error_response(InvalidInput(f"invalid request: {problems}"))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error_response(NotFound(f"no such endpoint: {exc.detail}"))
        error = AimsError(str(exc.detail))
        return JSONResponse(
            {"error": {"code": "HTTPError", "message": error.message}}, status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # A bug in the hub, not in the request: log it whole, answer without internals.
        log.exception("unhandled error", exc_info=exc)
        return _error_response(ServerError("internal error in the hub; see the hub's log"))

    api = APIRouter(prefix="/api")

    @api.get("/health", response_model=Health, tags=["hub"])
    def health() -> Health:
        queue = hub.submissions.queue
        pending = getattr(queue, "pending", None)
        return Health(status="ok", version=__version__, evaluations_pending=pending)

    # --- accounts ---------------------------------------------------------------------------

    @api.post("/login", response_model=TokenInfo, tags=["accounts"])
    def login(body: LoginRequest, request: Request) -> TokenInfo:
        """A new API token for a username and password. Failed attempts are limited per username
        and per client address (429 with the wait in the message)."""
        address = request.client.host if request.client else None
        return hub.accounts.login(body.username, body.password, body.token_name, address=address)

    @api.post("/logout", status_code=204, tags=["accounts"])
    def logout(who: CallerDep) -> Response:
        """Revoke the token this request is made with."""
        hub.accounts.revoke(who)
        return Response(status_code=204)

    @api.get("/tokens", response_model=list[TokenDetails], tags=["accounts"])
    def tokens(who: CallerDep) -> list[TokenDetails]:
        """Your tokens that have not expired (API tokens and web sessions), newest first."""
        return hub.accounts.tokens(who)

    @api.delete("/tokens/{token_id}", status_code=204, tags=["accounts"])
    def revoke_token(
        token_id: Annotated[int, PathParam(ge=1, le=2**63 - 1, description="From GET /api/tokens.")],
        who: CallerDep,
    ) -> Response:
        """Revoke one of your tokens: it stops working at once (web sessions: within seconds)."""
        hub.accounts.revoke(who, token_id)
        return Response(status_code=204)

    @api.get("/whoami", response_model=UserInfo, tags=["accounts"])
    def whoami(who: CallerDep) -> UserInfo:
        return hub.accounts.whoami(who)

    @api.post("/signup", response_model=TokenInfo, status_code=201, tags=["accounts"])
    def signup(body: SignupRequest, request: Request) -> TokenInfo:
        """Make an account (and a first API token): with an invitation link's code, which also
        joins its playground, or without one where the hub allows open sign-up. Limited per
        client address."""
        address = request.client.host if request.client else None
        return hub.invitations.signup(
            body.username, body.password, code=body.code, email=body.email, address=address
        )

    @api.post("/join", response_model=PlaygroundInfo, tags=["accounts"])
    def join(body: JoinRequest, who: CallerDep) -> PlaygroundInfo:
        """Accept an invitation link: join its playground."""
        return hub.invitations.accept(who, body.code, body.email)

    @api.post("/password", status_code=204, tags=["accounts"])
    def change_password(body: PasswordChange, who: CallerDep, request: Request) -> Response:
        """Change your password. Every other token of yours stops working."""
        address = request.client.host if request.client else None
        hub.accounts.change_password(who, body.current, body.new, address=address)
        return Response(status_code=204)

    @api.post("/users/{username}/password", response_model=PasswordResetResponse, tags=["accounts"])
    def reset_password(username: str, body: PasswordReset, who: CallerDep) -> PasswordResetResponse:
        """Admin only: a new password for a user; every token of theirs stops working."""
        password = hub.accounts.reset_password(who, username, body.password)
        return PasswordResetResponse(username=username, password=password)

    @api.post("/users", response_model=NewUserResponse, status_code=201, tags=["accounts"])
    def create_user(body: NewUserRequest, who: CallerDep) -> NewUserResponse:
        user, token, password = hub.accounts.create_user(who, body.username, body.password, body.is_admin)
        return NewUserResponse(user=user, token=token.token, password=password)

    # --- playgrounds -------------------------------------------------------------------------

    @api.get("/playgrounds", response_model=list[PlaygroundInfo], tags=["playgrounds"])
    def list_playgrounds(who: CallerDep) -> list[PlaygroundInfo]:
        if who is None:
            hub.accounts.whoami(who)  # raises AuthenticationRequired
        return hub.playgrounds.list(who)

    @api.post("/playgrounds", response_model=PlaygroundInfo, status_code=201, tags=["playgrounds"])
    def create_playground(
        who: CallerDep,
        spec: Annotated[str, Form(description="PlaygroundSpec as JSON")],
        eval_labels: Annotated[UploadFile, File(description="Parquet, one column")],
        eval_features: Annotated[UploadFile | None, File(description="Parquet")] = None,
        example_data: Annotated[UploadFile | None, File(description="Parquet")] = None,
        y_train: Annotated[UploadFile | None, File(description="Parquet, one column")] = None,
    ) -> PlaygroundInfo:
        parsed = _parse_json(PlaygroundSpec, spec, "playground spec")

        def frame(upload: UploadFile | None, what: str) -> Any:
            if upload is None:
                return None
            return parquet_to_frame(upload.file.read(), what, InvalidEvalData, limits=limits)

        labels = frame(eval_labels, "eval_labels")
        if labels.shape[1] != 1:
            raise InvalidEvalData(f"eval_labels must have one column, got {labels.shape[1]}")
        train = frame(y_train, "y_train")
        return hub.playgrounds.create(
            who,
            parsed,
            eval_labels=labels.iloc[:, 0],
            eval_features=frame(eval_features, "eval_features"),
            example_data=frame(example_data, "example_data"),
            y_train=train.iloc[:, 0] if train is not None else None,
        )

    @api.get("/playgrounds/{name}", response_model=PlaygroundInfo, tags=["playgrounds"])
    def get_playground(name: str, who: CallerDep) -> PlaygroundInfo:
        return hub.playgrounds.get(who, name)

    @api.patch("/playgrounds/{name}", response_model=PlaygroundInfo, tags=["playgrounds"])
    def update_playground(name: str, body: PlaygroundUpdate, who: CallerDep) -> PlaygroundInfo:
        """Edit the pages, the visibility, the ranking metric (before the competition starts; every
        scored submission is then scored again) or the metric columns."""
        return hub.editing.update(
            who,
            name,
            description=body.description,
            pages=body.pages,
            private=body.private,
            eval_metric=body.eval_metric,
            shown_metrics=body.shown_metrics,
        )

    @api.post("/playgrounds/{name}/eval-data", response_model=PlaygroundInfo, tags=["playgrounds"])
    def replace_eval_data(
        name: str,
        who: CallerDep,
        eval_labels: Annotated[UploadFile | None, File(description="Parquet, one column")] = None,
        eval_features: Annotated[UploadFile | None, File(description="Parquet")] = None,
        example_data: Annotated[UploadFile | None, File(description="Parquet")] = None,
    ) -> PlaygroundInfo:
        """Replace the eval labels, features and/or example rows (owner or co-owner). New labels or
        features have every scored submission scored again; the change is recorded."""

        def frame(upload: UploadFile | None, what: str) -> Any:
            if upload is None:
                return None
            return parquet_to_frame(upload.file.read(), what, InvalidEvalData, limits=limits)

        labels = frame(eval_labels, "eval_labels")
        if labels is not None and labels.shape[1] != 1:
            raise InvalidEvalData(f"eval_labels must have one column, got {labels.shape[1]}")
        return hub.editing.replace_data(
            who,
            name,
            eval_labels=labels.iloc[:, 0] if labels is not None else None,
            eval_features=frame(eval_features, "eval_features"),
            example_data=frame(example_data, "example_data"),
        )

    @api.delete("/playgrounds/{name}", status_code=204, tags=["playgrounds"])
    def delete_playground(name: str, who: CallerDep) -> Response:
        hub.playgrounds.delete(who, name)
        return Response(status_code=204)

    @api.get(
        "/playgrounds/{name}/eval-features", tags=["playgrounds"], responses={200: {"content": {PARQUET: {}}}}
    )
    def eval_features(name: str, who: CallerDep) -> Response:
        return Response(frame_to_parquet(hub.playgrounds.eval_features(who, name)), media_type=PARQUET)

    @api.get(
        "/playgrounds/{name}/example-data", tags=["playgrounds"], responses={200: {"content": {PARQUET: {}}}}
    )
    def example_data(name: str, who: CallerDep) -> Response:
        return Response(frame_to_parquet(hub.playgrounds.example_data(who, name)), media_type=PARQUET)

    @api.post("/playgrounds/{name}/members", response_model=PlaygroundInfo, tags=["playgrounds"])
    def add_member(name: str, body: MemberRequest, who: CallerDep) -> PlaygroundInfo:
        """Add a member, or change a member's role (owner or co-owner)."""
        return hub.playgrounds.add_member(who, name, body.username, body.role)

    @api.post(
        "/playgrounds/{name}/invitations",
        response_model=InvitationInfo,
        status_code=201,
        tags=["playgrounds"],
    )
    def create_invitation(name: str, body: InvitationRequest, who: CallerDep) -> InvitationInfo:
        """A link that lets people join (and sign up): `path` is in this answer only."""
        return hub.invitations.create(
            who,
            name,
            expires_in_hours=body.expires_in_hours,
            max_uses=body.max_uses,
            email_domain=body.email_domain,
            role=body.role,
        )

    @api.get("/playgrounds/{name}/invitations", response_model=list[InvitationInfo], tags=["playgrounds"])
    def list_invitations(name: str, who: CallerDep) -> list[InvitationInfo]:
        return hub.invitations.list(who, name)

    @api.delete("/playgrounds/{name}/invitations/{invitation_id}", status_code=204, tags=["playgrounds"])
    def revoke_invitation(
        name: str, invitation_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], who: CallerDep
    ) -> Response:
        hub.invitations.revoke(who, name, invitation_id)
        return Response(status_code=204)

    @api.post("/playgrounds/{name}/roster", response_model=list[RosterEntry], tags=["playgrounds"])
    def import_roster(name: str, body: RosterRequest, who: CallerDep) -> list[RosterEntry]:
        """Accounts and memberships for a class list; each new account comes with a one-time
        sign-in link (`/signin/<code>`, shown this once) that sets its password."""
        return hub.invitations.import_roster(who, name, body.rows)

    @api.delete("/playgrounds/{name}/members/{username}", response_model=PlaygroundInfo, tags=["playgrounds"])
    def remove_member(name: str, username: str, who: CallerDep) -> PlaygroundInfo:
        return hub.playgrounds.remove_member(who, name, username)

    # --- competition ------------------------------------------------------------------------

    @api.patch("/playgrounds/{name}/competition", response_model=PlaygroundInfo, tags=["competition"])
    def update_competition(name: str, body: CompetitionUpdate, who: CallerDep) -> PlaygroundInfo:
        return hub.playgrounds.update_competition(
            who,
            name,
            deadline=body.deadline,
            clear_deadline=body.clear_deadline,
            daily_submission_limit=body.daily_submission_limit,
            final_selections=body.final_selections,
            team_size_limit=body.team_size_limit,
        )

    @api.post("/playgrounds/{name}/competition/close", response_model=PlaygroundInfo, tags=["competition"])
    def close_competition(name: str, who: CallerDep) -> PlaygroundInfo:
        return hub.playgrounds.update_competition(who, name, close=True)

    @api.get("/playgrounds/{name}/competition/quota", response_model=QuotaInfo, tags=["competition"])
    def quota(name: str, who: CallerDep) -> QuotaInfo:
        return hub.playgrounds.quota(who, name)

    @api.get(
        "/playgrounds/{name}/competition/standings.csv",
        tags=["competition"],
        responses={200: {"content": {"text/csv": {}}}},
    )
    def standings_csv(name: str, who: CallerDep) -> Response:
        """The competition board as CSV: one row per team or participant, as the caller may see it
        (the final standing after the close)."""
        data = standings_csv_bytes(hub.leaderboards.get(who, name, "competition", metadata=False))
        return Response(
            data,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}-standings.csv"'},
        )

    # --- teams and final selections ---------------------------------------------------------

    @api.get("/playgrounds/{name}/teams", response_model=list[TeamInfo], tags=["teams"])
    def list_teams(name: str, who: CallerDep) -> list[TeamInfo]:
        return hub.teams.list(who, name)

    @api.post("/playgrounds/{name}/teams", response_model=TeamInfo, status_code=201, tags=["teams"])
    def create_team(name: str, body: TeamRequest, who: CallerDep) -> TeamInfo:
        """Make a team with you in it; the answer carries its join code, shown this once."""
        return hub.teams.create(who, name, body.name)

    @api.get("/playgrounds/{name}/team", response_model=TeamInfo, tags=["teams"])
    def my_team(name: str, who: CallerDep) -> TeamInfo:
        return hub.teams.mine(who, name)

    @api.post("/playgrounds/{name}/team/join", response_model=TeamInfo, tags=["teams"])
    def join_team(name: str, body: TeamJoinRequest, who: CallerDep) -> TeamInfo:
        return hub.teams.join(who, name, body.code)

    @api.post("/playgrounds/{name}/team/code", response_model=TeamInfo, tags=["teams"])
    def new_team_code(name: str, who: CallerDep) -> TeamInfo:
        """A new join code for your team; the old one stops working."""
        return hub.teams.new_code(who, name)

    @api.delete("/playgrounds/{name}/team", status_code=204, tags=["teams"])
    def leave_team(name: str, who: CallerDep) -> Response:
        hub.teams.leave(who, name)
        return Response(status_code=204)

    @api.get("/playgrounds/{name}/entries", response_model=list[SubmissionInfo], tags=["teams"])
    def my_entries(name: str, who: CallerDep) -> list[SubmissionInfo]:
        """Your team's submissions (or yours), with which are selected as final."""
        return hub.teams.entries(who, name)

    @api.put("/playgrounds/{name}/final", response_model=list[SubmissionInfo], tags=["teams"])
    def select_final(name: str, body: FinalSelection, who: CallerDep) -> list[SubmissionInfo]:
        """Select your final entries for the private standing, before the close."""
        return hub.teams.select_final(who, name, body.versions)

    # --- leaderboards and submissions -------------------------------------------------------

    @api.get("/playgrounds/{name}/leaderboard", response_model=Leaderboard, tags=["leaderboards"])
    def leaderboard(name: str, who: CallerDep, board: str = "experiment") -> Leaderboard:
        return hub.leaderboards.get(who, name, board)

    @api.post(
        "/playgrounds/{name}/submissions",
        response_model=SubmissionInfo,
        status_code=201,
        tags=["submissions"],
    )
    def submit(
        name: str,
        who: CallerDep,
        meta: Annotated[str, Form(description="SubmissionMeta as JSON")] = "{}",
        model: Annotated[UploadFile | None, File(description="ONNX model")] = None,
        original: Annotated[
            UploadFile | None,
            File(description="the original: scikit-learn as skops, PyTorch/Keras as safetensors"),
        ] = None,
        preprocessor: Annotated[
            UploadFile | None, File(description="preprocessor document (JSON): a tokenizer or a media spec")
        ] = None,
        predictions: Annotated[UploadFile | None, File(description="Parquet, one column")] = None,
    ) -> SubmissionInfo:
        parsed = _parse_json(SubmissionMeta, meta, "submission metadata")
        preds = None
        if predictions is not None:
            preds = parquet_to_frame(
                predictions.file.read(), "predictions", InvalidPredictions, limits=limits
            )
        upload = SubmissionUpload(
            meta=parsed,
            model=model.file.read() if model is not None else None,
            original=original.file.read() if original is not None else None,
            preprocessor=preprocessor.file.read() if preprocessor is not None else None,
            predictions=preds,
        )
        return hub.submissions.submit(who, name, upload)

    @api.get("/playgrounds/{name}/submissions", response_model=list[SubmissionInfo], tags=["submissions"])
    def list_submissions(name: str, who: CallerDep) -> list[SubmissionInfo]:
        return hub.submissions.list(who, name)

    @api.get("/playgrounds/{name}/submissions/{version}", response_model=SubmissionInfo, tags=["submissions"])
    async def get_submission(
        name: str,
        version: int,
        who: CallerDep,
        wait: Annotated[float, Query(ge=0, le=60, description="Seconds to wait for a final state")] = 0,
    ) -> SubmissionInfo:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            changed = signal.current()  # taken before reading, so no change slips between
            info = await run_in_threadpool(hub.submissions.get, who, name, version)
            remaining = deadline - loop.time()
            if info.status.finished or remaining <= 0:
                return info
            try:
                await asyncio.wait_for(asyncio.shield(changed), timeout=min(remaining, 5.0))
            except TimeoutError:
                pass

    @api.get(
        "/playgrounds/{name}/submissions/{version}/{kind}",
        tags=["submissions"],
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def artifact(name: str, version: int, kind: str, who: CallerDep) -> Response:
        data = hub.submissions.artifact(who, name, version, kind)
        suffix = {"model": "onnx", "preprocessor": "json"}.get(kind) or original_format(data)
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{name}-v{version}.{suffix}"'},
        )

    # --- deployment ---------------------------------------------------------------------------

    @api.post("/playgrounds/{name}/deployment", response_model=DeploymentInfo, tags=["deployment"])
    def deploy(name: str, body: DeployRequest, who: CallerDep) -> DeploymentInfo:
        """Serve a version on the playground's endpoint; swaps with no downtime if one serves."""
        return hub.deployments.deploy(who, name, body.version)

    @api.get("/playgrounds/{name}/deployment", response_model=DeploymentInfo, tags=["deployment"])
    def get_deployment(name: str, who: CallerDep) -> DeploymentInfo:
        return hub.deployments.get(who, name)

    @api.delete("/playgrounds/{name}/deployment", status_code=204, tags=["deployment"])
    def undeploy(name: str, who: CallerDep) -> Response:
        hub.deployments.undeploy(who, name)
        return Response(status_code=204)

    @api.post("/playgrounds/{name}/predict", tags=["deployment"])
    async def predict_here(name: str, request: Request) -> Response:
        """The deployed model's prediction, on the hub's own port: the request goes on to the
        model server as it came (same body, same token) and its answer comes back as it is —
        the same auth, limits and errors as ``POST <serve url>/<name>/predict``. For hosts that
        expose one port only (a Hugging Face Space)."""
        return await forward_prediction(hub, name, request)

    api.include_router(data_router(hub, limits))
    app.include_router(api)

    @app.api_route(
        "/api/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    def unknown_endpoint(path: str) -> None:
        # Everything else on the hub is its web UI; under /api an unknown path is an API error.
        raise NotFound(f"no such endpoint: /api/{path}")

    return app
