"""The hub's web front: login pages, the front page at ``/`` and one Gradio app per playground
under ``/p/<name>/``.

Playground apps are built on first visit and kept; a private playground answers 404 to anyone
who is not a member before its app is reached, for pages and the Gradio API alike.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import gradio as gr
from fastapi import FastAPI, Form, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from aims_spaces.domain import TokenKind
from aims_spaces.errors import AimsError, TooManyAttempts
from aims_spaces.hub import Hub, Settings

from .account_pages import mount_account_pages
from .guard import GradioGuard, UploadBudget, WebHeaders, refuse
from .hub_app import build_hub_app
from .playground_app import CSS, build_playground_app
from .session import COOKIE, Sessions

log = logging.getLogger(__name__)
ACCESS_TTL_S = 5.0

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title} · aims_spaces</title>
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}}
label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}}.error{{color:#b00020}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _safe_next(target: str | None) -> str:
    # Only paths on this hub: never an absolute URL (no open redirect).
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _login_page(next_url: str, error: str = "") -> str:
    err = f'<p class="error">{html.escape(error)}</p>' if error else ""
    body = (
        f'{err}<form method="post" action="/login">'
        f'<input type="hidden" name="next" value="{html.escape(next_url)}">'
        '<label for="username">Username</label><input id="username" name="username" autocomplete="username">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password">'
        '<button type="submit">Log in</button></form>'
    )
    return _PAGE.format(title="Log in", body=body)


class PlaygroundApps:
    """ASGI app at ``/p``: checks access, builds each playground's Gradio app once, forwards."""

    def __init__(self, hub: Hub, sessions: Sessions, serve_url: str | None, hub_url: str) -> None:
        self.hub = hub
        self.settings = hub.settings
        self.sessions = sessions
        # Visitors' demo uploads: a few predictions' worth per address and hour.
        self.visitor_budget = UploadBudget(8 * self.settings.max_predict_bytes)
        self.serve_url = serve_url
        self.hub_url = hub_url
        self._apps: dict[str, ASGIApp] = {}
        self._lock = asyncio.Lock()
        self._stack = AsyncExitStack()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._access: dict[tuple[str, str | None], tuple[float, str | None]] = {}
        self._access_lock = threading.Lock()  # forget() runs on service threads
        self._builds: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def start(self) -> None:
        """Build every playground's app in the background, so first visits find it ready."""
        self._loop = asyncio.get_running_loop()
        names = await asyncio.to_thread(self.hub.playgrounds.names)
        self._background(names)

    def _background(self, names: list[str]) -> None:
        task = asyncio.get_running_loop().create_task(self._prebuild(names))
        self._builds.add(task)
        task.add_done_callback(self._builds.discard)

    async def _prebuild(self, names: list[str]) -> None:
        for name in names:
            try:
                await self._app(name)
            except Exception:  # a page that fails to build is rebuilt (and reported) on visit
                log.exception("could not build the app of %s", name)
            else:
                log.info("built the page of %s", name)

    def prebuild(self, name: str) -> None:
        """Schedule building a new playground's app (from any thread).

        The build runs in a fresh context, not the caller's: a playground created from the front
        page is created inside a Gradio event, whose context variables (``in_event_listener``)
        would follow the task into the build and make Gradio skip initialising every component
        ("'Button' object has no attribute '_id'")."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._background, [name], context=contextvars.Context())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        root = scope.get("root_path", "")
        rest = scope["path"][len(root) :] if scope["path"].startswith(root) else scope["path"]
        name, _, _ = rest.lstrip("/").partition("/")
        if scope["type"] == "http" and rest in ("", f"/{name}") and name:
            await RedirectResponse(f"{root}/{name}/")(scope, receive, send)
            return
        request = Request(scope)
        token = self.sessions.token_from(request.headers, request.cookies)
        if "authorization" in request.headers and token is not None and not await self._valid(token):
            # A mistyped token in a gradio_client call is refused as REST refuses it, not taken
            # for a visitor (a stale cookie, by contrast, just means "logged out").
            if scope["type"] == "http":
                await refuse(
                    scope,
                    receive,
                    send,
                    401,
                    "AuthenticationRequired",
                    "the API token is not valid (revoked, expired, mistyped or from another hub)",
                )
            return
        refusal = await self._refusal(name, token)
        if refusal is not None:
            if scope["type"] == "http":
                body = _PAGE.format(
                    title="Not found",
                    body=f"<p>{html.escape(refusal)}.</p><p><a href='/'>All playgrounds</a></p>",
                )
                await HTMLResponse(body, status_code=404)(scope, receive, send)
            return
        app = await self._app(name)
        child = dict(scope)
        child["root_path"] = f"{root}/{name}"
        await app(child, receive, send)

    async def _valid(self, token: str) -> bool:
        caller = await asyncio.to_thread(self.sessions.caller, {"authorization": f"Bearer {token}"}, {})
        return caller is not None

    def upload_limit(self, scope: Scope) -> tuple[int, bool]:
        """Visitors may upload what the demo takes (a prediction's size); members what a
        submission takes."""
        request = Request(scope)
        caller = self.sessions.caller(request.headers, request.cookies)
        if caller is None:
            return self.settings.max_predict_bytes, True
        return self.settings.max_upload_bytes, False

    async def _refusal(self, name: str, token: str | None) -> str | None:
        """Why the holder of ``token`` may not see playground ``name``, or None. A page load makes
        dozens of requests (scripts, styles, events), so the answer is kept for a few seconds."""
        key = (name, token)
        now = time.monotonic()
        with self._access_lock:
            hit = self._access.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]

        def decide() -> str | None:
            caller = self.sessions.caller({"authorization": f"Bearer {token}"} if token else {}, {})
            try:
                self.hub.playgrounds.check_visible(caller, name)
            except AimsError as e:
                return e.message
            return None

        refusal = await asyncio.to_thread(decide)
        with self._access_lock:
            if len(self._access) > 10_000:
                self._access.clear()
            self._access[key] = (now + ACCESS_TTL_S, refusal)
        return refusal

    async def _app(self, name: str) -> ASGIApp:
        app = self._apps.get(name)
        if app is not None:
            return app
        async with self._lock:
            if name not in self._apps:
                blocks = await asyncio.to_thread(
                    build_playground_app,
                    self.hub,
                    name,
                    serve_url=self.serve_url,
                    hub_url=self.hub_url,
                    sessions=self.sessions,
                )
                structure = await asyncio.to_thread(self.hub.playgrounds.structure, name)
                media = any(c.dtype.media for c in structure.feature_schema)
                self._apps[name] = await mount_gradio(
                    blocks,
                    self.settings,
                    self._stack,
                    self.upload_limit,
                    uploads=True,  # the Submit tab (members only)
                    visitor_uploads=media,  # the demo of an image, sound or video playground
                    budget=self.visitor_budget,
                )
            return self._apps[name]

    def forget(self, name: str) -> None:
        """Members changed or the playground is gone: drop remembered answers (and a deleted
        playground's app, so a new one of the same name gets a fresh app)."""
        with self._access_lock:
            for key in [k for k in self._access if k[0] == name]:
                del self._access[key]
        try:
            self.hub.playgrounds.structure(name)
        except AimsError:
            self._apps.pop(name, None)

    async def close(self) -> None:
        await self._stack.aclose()


async def mount_gradio(
    blocks: gr.Blocks,
    settings: Settings,
    stack: AsyncExitStack,
    upload_limit: Callable[[Scope], tuple[int, bool]],
    *,
    uploads: bool,
    visitor_uploads: bool = False,
    budget: UploadBudget | None = None,
) -> ASGIApp:
    """``blocks`` as its own FastAPI app behind a :class:`GradioGuard`, started (its queue runs
    until ``stack`` closes)."""
    sub = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    # With a CORSMiddleware of ours on the app, Gradio adds none of its own (which would answer
    # any origin with credentials once the hub is reached by a host name).
    sub.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=bool(settings.cors_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["authorization", "content-type"],
    )
    gr.mount_gradio_app(
        sub,
        blocks,
        path="",
        css=CSS,
        footer_links=["api"],
        max_file_size=settings.max_upload_bytes,
        run_history=False,
        enable_monitoring=False,
        show_error=False,
        mcp_server=False,
    )
    # Gradio checks that a file named in a request was uploaded only once it believes it was
    # launched; a mounted app never is. (GradioGuard checks more narrowly still: this app's files.)
    blocks.has_launched = True
    # The sub-app's lifespan starts Gradio's queue and its cache clean-up.
    await stack.enter_async_context(sub.router.lifespan_context(sub))
    return GradioGuard(
        sub,
        blocks,
        max_body=settings.max_request_bytes,
        upload_limit=upload_limit,
        uploads=uploads,
        visitor_uploads=visitor_uploads,
        budget=budget,
    )


def mount_web(app: FastAPI, hub: Hub, *, serve_url: str | None, hub_url: str) -> PlaygroundApps:
    """Add the login pages, the playground apps and the front page to the hub's FastAPI app."""
    settings = hub.settings
    sessions = Sessions(hub)
    session_max_age = int(settings.session_ttl_hours * 3600)

    def address(request: Request) -> str | None:
        return request.client.host if request.client else None

    @app.get("/login", include_in_schema=False)
    def login_form(next: str = "/") -> HTMLResponse:
        return HTMLResponse(_login_page(_safe_next(next)))

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/")
    ) -> Any:
        try:
            token = hub.accounts.login(
                username, password, token_name="web session", kind=TokenKind.SESSION, address=address(request)
            )
        except AimsError as e:
            status = 429 if isinstance(e, TooManyAttempts) else 401
            return HTMLResponse(_login_page(_safe_next(next), e.message), status_code=status)
        return start_session(token.token, next)

    def start_session(token: str, next_url: str) -> RedirectResponse:
        """A redirect to ``next_url`` that sets the session cookie."""
        response = RedirectResponse(_safe_next(next_url), status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            max_age=session_max_age,
        )
        return response

    mount_account_pages(app, hub, sessions, start_session)

    def logout(request: Request, next: str) -> RedirectResponse:
        token = request.cookies.get(COOKIE)
        if token:
            try:
                caller = hub.accounts.authenticate(token)
                if caller is not None:
                    hub.accounts.revoke(caller)  # the session ends on the hub, not only in this browser
            except AimsError:
                pass  # already expired or revoked: nothing left to end
            sessions.forget(token)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=settings.secure_cookies)
        return response

    @app.get("/logout", include_in_schema=False)
    def logout_link(request: Request, next: str = "/") -> Any:
        if request.headers.get("sec-fetch-site") == "cross-site":
            # A link on another site does not log anyone out: ask first.
            body = (
                '<form method="post" action="/logout">'
                f'<input type="hidden" name="next" value="{html.escape(_safe_next(next))}">'
                '<p>Log out of this hub?</p><button type="submit">Log out</button></form>'
            )
            return HTMLResponse(_PAGE.format(title="Log out", body=body))
        return logout(request, next)

    @app.post("/logout", include_in_schema=False)
    def logout_form(request: Request, next: str = Form("/")) -> RedirectResponse:
        return logout(request, next)

    playground_apps = PlaygroundApps(hub, sessions, serve_url, hub_url)
    hub.playgrounds.on_access_change(playground_apps.forget)
    hub.playgrounds.on_create(playground_apps.prebuild)
    app.mount("/p", playground_apps)

    front = build_hub_app(hub, sessions)
    front_app: dict[str, ASGIApp] = {}

    async def front_page(scope: Scope, receive: Receive, send: Send) -> None:
        if "app" not in front_app:
            await refuse(scope, receive, send, 503, "HubUnavailable", "the hub is starting")
            return
        await front_app["app"](scope, receive, send)

    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> Any:
        async with outer(app_) as state:
            front_app["app"] = await mount_gradio(
                # Signed-in users upload a new playground's data; visitors upload nothing here.
                front,
                settings,
                playground_apps._stack,
                playground_apps.upload_limit,
                uploads=True,
            )
            await playground_apps.start()
            try:
                yield state
            finally:
                await playground_apps.close()

    app.router.lifespan_context = lifespan
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=bool(settings.cors_origins),
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["authorization", "content-type"],
    )
    app.add_middleware(
        WebHeaders,
        allowed_origins=settings.cors_origins,
        public_url=settings.url,
        max_body=settings.max_request_bytes,
    )
    app.mount("/", front_page)
    return playground_apps


__all__ = ["PlaygroundApps", "mount_web"]
