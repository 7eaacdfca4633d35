"""The hub's web front: login pages, the front page at ``/`` and one Gradio app per playground
under ``/p/<name>/``.

Playground apps are built on first visit and kept; a private playground answers 404 to anyone
who is not a member before its app is reached, for pages and the Gradio API alike.
"""

from __future__ import annotations

import asyncio
import html
import logging
import threading
import time
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import gradio as gr
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from aims_spaces.errors import AimsError
from aims_spaces.hub import Hub

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
        self.sessions = sessions
        self.serve_url = serve_url
        self.hub_url = hub_url
        self._apps: dict[str, ASGIApp] = {}
        self._lock = asyncio.Lock()
        self._stack = AsyncExitStack()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._access: dict[tuple[str, str | None], tuple[float, str | None]] = {}
        self._access_lock = threading.Lock()  # forget() runs on service threads

    async def start(self) -> None:
        """Build every playground's app in the background, so first visits find it ready."""
        self._loop = asyncio.get_running_loop()
        names = await asyncio.to_thread(self.hub.playgrounds.names)
        self._loop.create_task(self._prebuild(names))

    async def _prebuild(self, names: list[str]) -> None:
        for name in names:
            try:
                await self._app(name)
            except Exception:  # a page that fails to build is rebuilt (and reported) on visit
                log.exception("could not build the app of %s", name)

    def prebuild(self, name: str) -> None:
        """Schedule building a new playground's app (from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._prebuild([name]), self._loop)

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
                    build_playground_app, self.hub, name, serve_url=self.serve_url, hub_url=self.hub_url
                )
                sub = FastAPI()
                gr.mount_gradio_app(sub, blocks, path="", css=CSS, footer_links=["api"])
                # The sub-app's lifespan starts Gradio's queue; it stays open until the hub stops.
                await self._stack.enter_async_context(sub.router.lifespan_context(sub))
                self._apps[name] = sub
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


def mount_web(app: FastAPI, hub: Hub, *, serve_url: str | None, hub_url: str) -> PlaygroundApps:
    """Add the login pages, the playground apps and the front page to the hub's FastAPI app."""
    sessions = Sessions(hub)

    @app.get("/login", include_in_schema=False)
    def login_form(next: str = "/") -> HTMLResponse:
        return HTMLResponse(_login_page(_safe_next(next)))

    @app.post("/login", include_in_schema=False)
    def login(username: str = Form(""), password: str = Form(""), next: str = Form("/")) -> Any:
        try:
            token = hub.accounts.login(username, password, token_name="web session")
        except AimsError as e:
            return HTMLResponse(_login_page(_safe_next(next), e.message), status_code=401)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(COOKIE, token.token, httponly=True, samesite="lax", max_age=30 * 24 * 3600)
        return response

    @app.get("/logout", include_in_schema=False)
    def logout(next: str = "/") -> RedirectResponse:
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.delete_cookie(COOKIE)
        return response

    playground_apps = PlaygroundApps(hub, sessions, serve_url, hub_url)
    hub.playgrounds.on_access_change(playground_apps.forget)
    hub.playgrounds.on_create(playground_apps.prebuild)
    app.mount("/p", playground_apps)

    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> Any:
        async with outer(app_) as state:
            await playground_apps.start()
            try:
                yield state
            finally:
                await playground_apps.close()

    app.router.lifespan_context = lifespan
    gr.mount_gradio_app(app, build_hub_app(hub), path="", css=CSS, footer_links=["api"])
    return playground_apps


__all__ = ["PlaygroundApps", "mount_web"]
