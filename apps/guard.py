"""What stands between the web and each mounted Gradio app, and the headers every page gets.

Gradio trusts its caller more than a hub opened to strangers can: mounted into FastAPI it skips
its "was this file uploaded?" check, serves any file of its shared cache through any app,
answers 500 for an unknown endpoint, reflects any Origin with credentials once the hub is
reached by a host name, and keeps global "deep links" to other apps' state. :class:`GradioGuard`
wraps one mounted app and lets through only what that app owns: files it created or that were
uploaded to it, endpoints it defines (``/call`` only for its public ones), bounded JSON bodies.
:class:`WebHeaders` adds a Content-Security-Policy (inline scripts allowed by their hashes, so an
injected handler does not run), refuses state-changing form posts from other sites (Origin
check) and bounds request bodies of the web pages.

Written by hand: Gradio has no per-app file or endpoint policy to configure (its
``allowed_paths``/``blocked_paths`` are per process and cannot say "this app's files").
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

_NAMED = re.compile(r"^/gradio_api/(call/v2|call|run|api)/([^/]+)/?$")
_EVENTS = ("/gradio_api/queue/join",)
_FILES = ("/gradio_api/file=", "/gradio_api/file/")
# Routes a hub never needs: component server functions and input streams (none of the hub's
# components use them; Gradio reads their bodies whole), global deep links to other apps'
# state, a second queue loop for anonymous callers (mounted apps never mark their startup
# events as run), ffmpeg on uploads, Gradio's monitoring and run history, the MCP server.
_CLOSED = (
    "/gradio_api/component_server",  # server functions of components these apps do not use
    "/gradio_api/stream",  # streaming inputs (webcam, microphone streams): not used here
    "/gradio_api/dev",
    "/gradio_api/deep_link",
    "/gradio_api/startup-events",
    "/gradio_api/process_recording",
    "/gradio_api/runs",
    "/gradio_api/run_history",
    "/monitoring",
    "/gradio_api/monitoring",
    "/gradio_api/mcp",
    "/gradio_api/vibe",
)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    """Answer in the hub's error format, ``{"error": {"code", "message"}}``."""
    await JSONResponse({"error": {"code": code, "message": message}}, status_code=status)(
        scope, receive, send
    )


def file_data_paths(value: Any, depth: int = 0) -> Iterable[str]:
    """Every path in a decoded event payload: each ``gradio.FileData``, and any object with a
    ``path`` (Gradio's image, audio and video models take one without ``meta`` too)."""
    if depth > 32:
        raise ValueError("nested too deeply")
    if isinstance(value, dict):
        meta = value.get("meta")
        if (isinstance(meta, dict) and meta.get("_type") == "gradio.FileData") or "path" in value:
            yield str(value.get("path") or "")
        for item in value.values():
            yield from file_data_paths(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from file_data_paths(item, depth + 1)


class GradioGuard:
    """Wraps one mounted Gradio app (its ``blocks``): see the module docstring.

    ``upload_limit(scope)`` gives the largest upload the caller of a request may send and
    whether the caller is a visitor (visitors get less than signed-in users); ``max_body``
    bounds every JSON event body.
    """

    def __init__(
        self,
        app: ASGIApp,
        blocks: Any,
        *,
        max_body: int,
        upload_limit: Callable[[Scope], tuple[int, bool]],
        uploads: bool = True,
        visitor_uploads: bool = False,
        budget: UploadBudget | None = None,
    ) -> None:
        self.app = app
        self.blocks = blocks
        self.max_body = max_body
        self.upload_limit = upload_limit
        self.uploads = uploads  # the app has file inputs at all
        self.visitor_uploads = visitor_uploads  # ... that visitors use (a media demo)
        self.budget = budget

    def owns(self, path: str) -> bool:
        """Whether ``path`` is a file this app created or that was uploaded to it."""
        if not path or "://" in path or "\x00" in path:
            return False
        candidates = {path, os.path.realpath(path)}
        for files in list(self.blocks.temp_file_sets):
            if any(c in files for c in candidates):
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope["path"]
        rest = path[len(root) :] if root and path.startswith(root) else path
        method = scope["method"]

        if rest.startswith(_CLOSED) or b"deep_link=" in scope.get("query_string", b""):
            await refuse(scope, receive, send, 404, "NotFound", "no such page")
            return
        for prefix in _FILES:
            if rest.startswith(prefix):
                if not self.owns(unquote(rest[len(prefix) :])):
                    await refuse(scope, receive, send, 404, "NotFound", "no such file")
                    return
                await self.app(scope, receive, send)
                return
        if method == "POST" and rest.rstrip("/") == "/gradio_api/upload":
            limit, visitor = self.upload_limit(scope)
            if not self.uploads or (visitor and not self.visitor_uploads):
                await refuse(
                    scope,
                    receive,
                    send,
                    401 if self.uploads else 404,
                    "AuthenticationRequired" if self.uploads else "NotFound",
                    "log in to upload files here" if self.uploads else "this page takes no files",
                )
                return
            length = Headers(scope=scope).get("content-length")
            if length is None or not length.isdigit():
                await refuse(scope, receive, send, 411, "InvalidInput", "an upload needs a Content-Length")
                return
            if visitor and self.budget is not None and not self.budget.take(scope, int(length)):
                await refuse(
                    scope,
                    receive,
                    send,
                    429,
                    "TooManyAttempts",
                    "visitors from this address uploaded as much as they may this hour; log in, or "
                    "try again later",
                )
                return
            if int(length) > limit:
                await refuse(
                    scope,
                    receive,
                    send,
                    413,
                    "PayloadTooLarge",
                    f"the upload is larger than the limit of {limit / 2**20:g} MiB"
                    + (" for visitors; log in to upload more" if visitor else ""),
                )
                return
            await self.app(scope, receive, send)
            return
        named = _NAMED.match(rest)
        if method == "POST" and (named or rest in _EVENTS):
            await self._event(scope, receive, send, rest, named)
            return
        await self.app(scope, receive, send)

    async def _event(
        self, scope: Scope, receive: Receive, send: Send, rest: str, named: re.Match[str] | None
    ) -> None:
        fns = self.blocks.fns
        if named:
            kind, name = named.groups()
            if kind.startswith("call"):  # the documented API: public endpoints only
                known = {f.api_name for f in fns.values() if f.api_name and f.api_visibility == "public"}
            else:
                known = {f.api_name for f in fns.values() if f.api_name}
            if name not in known:
                await refuse(scope, receive, send, 404, "NotFound", f"this app has no API endpoint {name!r}")
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                await refuse(
                    scope,
                    receive,
                    send,
                    413,
                    "PayloadTooLarge",
                    f"the request is larger than the limit of {self.max_body / 2**10:g} KiB",
                )
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            payload = json.loads(body or b"null")
            paths = list(file_data_paths(payload))
        except (ValueError, RecursionError):
            await refuse(
                scope, receive, send, 400, "InvalidInput", "the request body is not JSON Gradio takes"
            )
            return
        if isinstance(payload, dict):
            fn_index = payload.get("fn_index")
            if rest in _EVENTS and fn_index is None and payload.get("event_id") is None:
                await refuse(scope, receive, send, 400, "InvalidInput", "the request names no function")
                return
            if fn_index is not None and (
                isinstance(fn_index, bool) or not isinstance(fn_index, int) or fn_index not in fns
            ):
                await refuse(scope, receive, send, 404, "NotFound", "this app has no such function")
                return
        for file_path in paths:
            if not self.owns(file_path):
                await refuse(
                    scope,
                    receive,
                    send,
                    400,
                    "InvalidInput",
                    "a file in the request was not uploaded to this page; upload it first",
                )
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class UploadBudget:
    """Bytes visitors may upload per client address per hour (the demo's files; uploads stay in
    Gradio's cache until it expires), so nobody fills the disk anonymously."""

    def __init__(self, bytes_per_hour: int, window_s: float = 3600.0) -> None:
        self.bytes_per_hour = bytes_per_hour
        self.window_s = window_s
        self._used: dict[str, list[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def take(self, scope: Scope, n: int) -> bool:
        client = scope.get("client")
        address = client[0] if client else "?"
        now = time.monotonic()
        with self._lock:
            recent = [(t, b) for t, b in self._used.get(address, []) if t > now - self.window_s]
            if sum(b for _, b in recent) + n > self.bytes_per_hour:
                self._used[address] = recent
                return False
            recent.append((now, n))
            self._used[address] = recent
            if len(self._used) > 100_000:
                del self._used[next(iter(self._used))]
            return True


# --- headers of every web page -------------------------------------------------------------

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
# What Gradio 6's pages need, and no more: scripts from the hub (inline ones by hash; Gradio's
# HTML component and plots evaluate templates, hence 'unsafe-eval'), inline styles, images and
# media from the hub, data: and blob: URLs (uploads, previews), connections to the hub only.
PAGE_CSP = (
    "default-src 'none'; script-src 'self' {hashes} 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob: data:; font-src 'self' data:; "
    "connect-src 'self'; worker-src 'self' blob:; manifest-src 'self'; frame-src 'none'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)
# Files the apps serve (uploads, downloads) are data, never a page of the hub's origin.
FILE_CSP = "default-src 'none'; sandbox"
_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}


def csp_for(body: bytes) -> str:
    """The page policy with the hashes of ``body``'s inline scripts."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.finditer(body)
    )
    return PAGE_CSP.format(hashes=hashes)


class WebHeaders:
    """The web UI's outer layer (everything but ``/api`` and the API docs):

    - a state-changing request whose ``Origin`` is not the hub's own (or an allowed one) is
      refused with 403, before it reaches a form or a Gradio event (cross-site request forgery);
    - request bodies other than uploads are bounded;
    - HTML pages get a Content-Security-Policy with the hashes of their inline scripts, files a
      sandboxing policy, every response ``nosniff``, a same-origin referrer and no framing by
      other sites.
    """

    def __init__(
        self, app: ASGIApp, *, allowed_origins: Iterable[str], public_url: str, max_body: int
    ) -> None:
        self.app = app
        self.allowed = {o.rstrip("/").lower() for o in allowed_origins}
        self.public = _origin(public_url)
        self.max_body = max_body

    def _origin_ok(self, origin: str, scope: Scope) -> bool:
        origin = origin.rstrip("/").lower()
        if origin in self.allowed or origin == self.public:
            return True
        host = Headers(scope=scope).get("host", "")
        scheme = scope.get("scheme", "http")
        return bool(host) and origin == f"{scheme}://{host}".lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(("/api/", "/docs", "/redoc", "/openapi.json")):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] in UNSAFE:
            origin = headers.get("origin")
            if origin is not None and not self._origin_ok(origin, scope):
                await refuse(
                    scope,
                    receive,
                    send,
                    403,
                    "ForbiddenOrigin",
                    "a page of another site may not change anything here",
                )
                return
            length = headers.get("content-length")
            upload = path.rstrip("/").endswith("/gradio_api/upload")
            if not upload and length is None:
                # A body without a length (chunked): read it here, at most the limit, and hand
                # it on whole (uploads must say their length; GradioGuard checks it).
                body = await _read_at_most(receive, self.max_body)
                if body is None:
                    await refuse(
                        scope,
                        receive,
                        send,
                        413,
                        "PayloadTooLarge",
                        f"the request is larger than the limit of {self.max_body / 2**10:g} KiB "
                        "(AIMS_MAX_REQUEST_KB)",
                    )
                    return
                receive = _replay(body, receive)
            elif not upload and length is not None and (not length.isdigit() or int(length) > self.max_body):
                await refuse(
                    scope,
                    receive,
                    send,
                    413,
                    "PayloadTooLarge",
                    f"the request is larger than the limit of {self.max_body / 2**10:g} KiB "
                    "(AIMS_MAX_REQUEST_KB)",
                )
                return
        is_file = "/gradio_api/file" in path
        navigation = scope["method"] in ("GET", "HEAD") and "text/html" in headers.get("accept", "")
        if navigation:
            # Ask for an uncompressed page so its inline scripts can be hashed (Gradio compresses
            # inside the mounted app, below this layer).
            scope = dict(scope)
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"accept-encoding"]
        start: Message | None = None
        chunks: list[bytes] = []
        html = False

        async def send_with_headers(message: Message) -> None:
            nonlocal start, html
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for key, value in _COMMON.items():
                    out.setdefault(key, value)
                if is_file:
                    out["Content-Security-Policy"] = FILE_CSP
                html = navigation and out.get("content-type", "").startswith("text/html")
                if not html:
                    await send(message)
                    return
                start = message
                return
            if not html:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            assert start is not None
            out = MutableHeaders(scope=start)
            out["Content-Security-Policy"] = csp_for(body)
            out["Content-Length"] = str(len(body))
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_with_headers)


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return None
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""
