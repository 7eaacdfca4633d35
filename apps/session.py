"""Who is looking at a page: the hub's login cookie or an API token in the Authorization header.

The cookie holds an API token issued at login (stored hashed like any other), so signing in on
the web and calling REST use the same accounts and the same access rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import gradio as gr

from aims_spaces.errors import AimsError, AuthenticationRequired, public_message
from aims_spaces.hub import Hub
from aims_spaces.hub.access import Caller

T = TypeVar("T")

COOKIE = "aims_session"
LOG_IN = "Log in to do this (use the Log in link at the top of the page)."
# How long a token's answer is remembered: a revoked or expired session stops working within
# this time on every page (logout forgets its own token at once).
_TTL_S = 5.0


def cache_policy(hub: Hub) -> tuple[int, int]:
    """Gradio's ``delete_cache``: how often to look, and the age after which a cached file
    (an upload, a download made for the caller) is deleted."""
    age = int(hub.settings.web_cache_max_age_s)
    return max(min(age // 4, 600), 10), age


def plain_errors(fn: Callable[[], T]) -> T:
    """Run a service call for a page; show its error in plain words (no traceback, no path)."""
    try:
        return fn()
    except AimsError as e:
        raise gr.Error(public_message(e.message), print_exception=False) from None


class Sessions:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._cache: dict[str, tuple[float, Caller | None]] = {}

    def forget(self, token: str) -> None:
        """Drop what is remembered about ``token`` (it was just revoked)."""
        self._cache.pop(token, None)

    def token_from(self, headers: Mapping[str, Any] | None, cookies: Mapping[str, Any] | None) -> str | None:
        auth = (headers or {}).get("authorization") or (headers or {}).get("Authorization")
        if auth and str(auth).lower().startswith("bearer "):
            return str(auth)[7:].strip() or None
        token = (cookies or {}).get(COOKIE)
        return str(token) if token else None

    def caller(self, headers: Mapping[str, Any] | None, cookies: Mapping[str, Any] | None) -> Caller | None:
        """The signed-in caller, or None for a visitor (a stale or forged cookie counts as none)."""
        token = self.token_from(headers, cookies)
        if not token:
            return None
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit and hit[0] > now:
            return hit[1]
        try:
            caller = self.hub.accounts.authenticate(token)
        except AuthenticationRequired:
            caller = None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (now + _TTL_S, caller)
        return caller

    def of(self, request: Any) -> Caller | None:
        """The caller of a Gradio event (``gr.Request``) or a Starlette request."""
        if request is None:
            return None
        headers = getattr(request, "headers", None)
        cookies = getattr(request, "cookies", None)
        return self.caller(_as_dict(headers), _as_dict(cookies))

    def need(self, request: Any) -> Caller:
        """The signed-in caller of a page's event; a visitor is told to log in."""
        caller = self.of(request)
        if caller is None:
            raise gr.Error(LOG_IN, print_exception=False)
        return caller

    def token_of(self, request: Any) -> str | None:
        if request is None:
            return None
        return self.token_from(
            _as_dict(getattr(request, "headers", None)), _as_dict(getattr(request, "cookies", None))
        )


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k).lower() if k.lower() == "authorization" else str(k): v for k, v in value.items()}
    try:
        return {k: v for k, v in vars(value).items()}
    except TypeError:
        return {}
