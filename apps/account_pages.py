"""Plain pages for people's accounts: joining through an invitation link (signing up on the
way), one-time sign-in links from a roster import, open sign-up, and the account page (change
the password, list and revoke one's tokens).

Plain HTML forms, like the login page: they work without JavaScript, every field is escaped,
and the hub's Origin check (:class:`apps.guard.WebHeaders`) refuses posts from other sites.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aims_spaces.domain import TokenKind
from aims_spaces.errors import AimsError, TooManyAttempts, http_status
from aims_spaces.hub import Hub
from aims_spaces.hub.access import Caller

from .session import Sessions

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title} · aims_spaces</title>
<meta name="referrer" content="same-origin">
<style>body{{font-family:system-ui,sans-serif;max-width:30rem;margin:4rem auto;padding:0 1rem}}
label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}}.error{{color:#b00020}}
table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ddd;padding:4px 6px;text-align:left}}
td button{{margin:0;padding:.2rem .6rem;font-size:.9rem}}</style></head>
<body><p><a href="/">← all playgrounds</a></p><h1>{title}</h1>{body}</body></html>"""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    # Links with codes in their path must not leak to other sites through the Referer header
    # ("no-referrer" would also make the browser send "Origin: null" with the form posts).
    return HTMLResponse(
        _PAGE.format(title=html.escape(title), body=body),
        status_code=status,
        headers={"Referrer-Policy": "same-origin", "Cache-Control": "no-store"},
    )


def _error(message: str) -> str:
    return f'<p class="error">{html.escape(message)}</p>' if message else ""


def _field(name: str, label: str, kind: str = "text", autocomplete: str = "") -> str:
    auto = f' autocomplete="{autocomplete}"' if autocomplete else ""
    return f'<label for="{name}">{label}</label><input id="{name}" name="{name}" type="{kind}"{auto}>'


def _signup_fields(email: bool) -> str:
    fields = _field("username", "Username", autocomplete="username") + _field(
        "password", "Password (at least 8 characters)", "password", "new-password"
    )
    if email:
        fields += _field("email", "E-mail address", "email", "email")
    return fields


def _status(e: AimsError) -> int:
    return 429 if isinstance(e, TooManyAttempts) else http_status(e)


def mount_account_pages(
    app: FastAPI,
    hub: Hub,
    sessions: Sessions,
    start_session: Callable[[str, str], Response],
) -> None:
    """Add ``/join/<code>``, ``/signin/<code>``, ``/signup`` and ``/account`` to the hub's app.
    ``start_session(token, next)`` answers with a redirect that sets the session cookie."""

    def address(request: Request) -> str | None:
        return request.client.host if request.client else None

    def caller_of(request: Request) -> Caller | None:
        try:
            return sessions.caller(request.headers, request.cookies)
        except AimsError:
            return None

    # --- invitation links ----------------------------------------------------------------------

    def join_page(request: Request, code: str, error: str = "", status: int = 200) -> HTMLResponse:
        try:
            name, invitation = hub.invitations.peek(code)
        except AimsError as e:
            return page("Invitation", _error(e.message), http_status(e))
        title = f"Join {name}"
        role = " as a co-owner" if invitation.role == "co-owner" else ""
        domain = invitation.email_domain
        note = f"<p>This link is for e-mail addresses at <b>{html.escape(domain)}</b>.</p>" if domain else ""
        who = caller_of(request)
        if who is not None:
            body = (
                f"{_error(error)}<p>You are logged in as <b>{html.escape(who.username)}</b>. Join "
                f"<b>{html.escape(name)}</b>{role}?</p>{note}<form method='post'>"
                + (_field("email", "Your e-mail address", "email", "email") if domain else "")
                + "<button type='submit'>Join</button></form>"
            )
            return page(title, body, status)
        next_url = html.escape(f"/join/{code}")
        body = (
            f"{_error(error)}<p>Make an account to join <b>{html.escape(name)}</b>{role}.</p>{note}"
            f"<form method='post'>{_signup_fields(bool(domain))}"
            "<button type='submit'>Sign up and join</button></form>"
            f"<p>Have an account? <a href='/login?next={next_url}'>Log in</a>, then open this link again.</p>"
        )
        return page(title, body, status)

    @app.get("/join/{code}", include_in_schema=False)
    def join_form(request: Request, code: str) -> HTMLResponse:
        return join_page(request, code)

    @app.post("/join/{code}", include_in_schema=False)
    def join(
        request: Request,
        code: str,
        username: str = Form(""),
        password: str = Form(""),
        email: str = Form(""),
    ) -> Any:
        who = caller_of(request)
        try:
            if who is not None:
                info = hub.invitations.accept(who, code, email or None)
                return RedirectResponse(f"/p/{info.name}/", status_code=303)
            name, _ = hub.invitations.peek(code)
            token = hub.invitations.signup(
                username,
                password,
                code=code,
                email=email or None,
                address=address(request),
                kind=TokenKind.SESSION,
            )
        except AimsError as e:
            return join_page(request, code, e.message, _status(e))
        return start_session(token.token, f"/p/{name}/")

    # --- one-time sign-in links (roster imports) -------------------------------------------------

    def signin_page(error: str = "", status: int = 200) -> HTMLResponse:
        body = (
            f"{_error(error)}<p>Choose a password for your account. This link works once.</p>"
            "<form method='post'>"
            + _field("password", "New password (at least 8 characters)", "password", "new-password")
            + "<button type='submit'>Set password and log in</button></form>"
        )
        return page("Welcome", body, status)

    @app.get("/signin/{code}", include_in_schema=False)
    def signin_form(code: str) -> HTMLResponse:
        return signin_page()

    @app.post("/signin/{code}", include_in_schema=False)
    def signin(code: str, password: str = Form("")) -> Any:
        try:
            token = hub.accounts.redeem_signin(code, password)
        except AimsError as e:
            return signin_page(e.message, _status(e))
        return start_session(token.token, "/")

    # --- open sign-up --------------------------------------------------------------------------

    def signup_page(error: str = "", status: int = 200) -> HTMLResponse:
        if not hub.settings.open_signup:
            return page(
                "Sign up",
                "<p>This hub has no open sign-up: ask a playground's owner for an invitation link.</p>",
                404,
            )
        body = (
            f"{_error(error)}<form method='post'>{_signup_fields(False)}"
            "<button type='submit'>Sign up</button></form>"
        )
        return page("Sign up", body, status)

    @app.get("/signup", include_in_schema=False)
    def signup_form() -> HTMLResponse:
        return signup_page()

    @app.post("/signup", include_in_schema=False)
    def signup(request: Request, username: str = Form(""), password: str = Form("")) -> Any:
        try:
            token = hub.invitations.signup(
                username, password, address=address(request), kind=TokenKind.SESSION
            )
        except AimsError as e:
            return signup_page(e.message, _status(e))
        return start_session(token.token, "/")

    # --- the account page ----------------------------------------------------------------------

    def account_page(who: Caller, message: str = "", error: str = "", status: int = 200) -> HTMLResponse:
        rows = "".join(
            f"<tr><td>{html.escape(t.name or '—')}</td><td>{t.kind.value}</td>"
            f"<td>{t.created_at:%Y-%m-%d %H:%M}</td><td>{t.expires_at:%Y-%m-%d}</td><td>"
            + (
                "this browser"
                if t.current
                else f"<form method='post' action='/account/tokens/{t.id}'><button>Revoke</button></form>"
            )
            + "</td></tr>"
            for t in hub.accounts.tokens(who)
        )
        body = (
            f"<p>Logged in as <b>{html.escape(who.username)}</b> · <a href='/logout'>Log out</a></p>"
            + (f"<p>{html.escape(message)}</p>" if message else "")
            + _error(error)
            + "<h2>Change your password</h2><form method='post' action='/account/password'>"
            + _field("current", "Current password", "password", "current-password")
            + _field("new", "New password (at least 8 characters)", "password", "new-password")
            + "<button type='submit'>Change password</button></form>"
            + "<h2>Your tokens</h2><table><tr><th>name</th><th>kind</th><th>made</th><th>expires</th>"
            + f"<th></th></tr>{rows}</table>"
        )
        return page("Your account", body, status)

    def need_login(request: Request) -> Caller | Response:
        who = caller_of(request)
        if who is None:
            return RedirectResponse("/login?next=/account", status_code=303)
        return who

    @app.get("/account", include_in_schema=False)
    def account(request: Request) -> Any:
        who = need_login(request)
        return who if isinstance(who, Response) else account_page(who)

    @app.post("/account/password", include_in_schema=False)
    def account_password(request: Request, current: str = Form(""), new: str = Form("")) -> Any:
        who = need_login(request)
        if isinstance(who, Response):
            return who
        try:
            hub.accounts.change_password(who, current, new, address=address(request))
        except AimsError as e:
            return account_page(who, error=e.message, status=_status(e))
        return account_page(who, message="Password changed; your other sessions and tokens have ended.")

    @app.post("/account/tokens/{token_id}", include_in_schema=False)
    def account_revoke(request: Request, token_id: int) -> Any:
        who = need_login(request)
        if isinstance(who, Response):
            return who
        try:
            hub.accounts.revoke(who, token_id)
        except AimsError as e:
            return account_page(who, error=e.message, status=_status(e))
        return account_page(who, message="Token revoked.")
