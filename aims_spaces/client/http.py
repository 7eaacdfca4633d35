"""The HTTP client: finds the hub and the token, sends requests, turns errors into AimsError.

The hub URL and token come from, in order: arguments, :func:`login` in this process, the
``AIMS_HUB_URL`` / ``AIMS_TOKEN`` environment variables, then the file ``aims login`` writes
(``$AIMS_CONFIG_DIR/credentials.json``, default ``~/.config/aims_spaces/credentials.json``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from ..errors import AimsError, AuthenticationRequired, HubUnavailable, error_from_payload

DEFAULT_URL = "http://127.0.0.1:7860"
_default: HubClient | None = None


def config_dir() -> Path:
    if os.environ.get("AIMS_CONFIG_DIR"):
        return Path(os.environ["AIMS_CONFIG_DIR"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "aims_spaces"


def _saved() -> dict[str, str]:
    path = config_dir() / "credentials.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class HubClient:
    """A connection to one hub as one user (or anonymously)."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 120.0) -> None:
        saved = _saved()
        self.url = (url or os.environ.get("AIMS_HUB_URL") or saved.get("url") or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else (os.environ.get("AIMS_TOKEN") or saved.get("token"))
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        files: Any = None,
        data: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
        timeout: float | None = None,
    ) -> Any:
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            resp = self._http.request(
                method,
                path,
                json=json_body,
                params=params,
                files=files,
                data=data,
                content=content,
                headers=headers,
                **kwargs,
            )
        except httpx.TransportError as e:
            where = path.split("/api/")[0] if path.startswith("http") else self.url
            error = HubUnavailable(
                f"cannot reach {where} ({e}); is the hub running? Start one with `make run`"
            )
            # A connection refused or reset may pass; a call that timed out would take as long again.
            error.transient = not isinstance(e, httpx.TimeoutException)
            raise error from None
        if resp.status_code >= 400:
            try:
                payload = resp.json()
            except ValueError:
                payload = resp.text
            raise error_from_payload(resp.status_code, payload)
        if raw:
            return resp.content
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def close(self) -> None:
        self._http.close()


def default_client() -> HubClient:
    global _default
    if _default is None:
        _default = HubClient()
    return _default


def login(
    url: str | None = None,
    token: str | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    save: bool = False,
) -> HubClient:
    """Use this hub and token for every later call in this process.

    Give a ``token``, or a ``username`` and ``password`` to get a new one. ``save=True`` also
    writes them where ``aims login`` does, for later sessions and the CLI.
    """
    global _default
    url = (url or os.environ.get("AIMS_HUB_URL") or DEFAULT_URL).rstrip("/")
    if token is None:
        if username is None or password is None:
            raise AuthenticationRequired("give a token, or a username and a password")
        anonymous = HubClient(url, token="")
        try:
            token = anonymous.request(
                "POST", "/api/login", json_body={"username": username, "password": password}
            )["token"]
        finally:
            anonymous.close()
    client = HubClient(url, token=token)
    client.request("GET", "/api/whoami")  # fail now, not at the first real call
    if save:
        path = config_dir() / "credentials.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"url": url, "token": token}, f)
    _default = client
    return client


def signup(
    url: str | None = None,
    *,
    username: str,
    password: str,
    code: str | None = None,
    email: str | None = None,
    save: bool = False,
) -> HubClient:
    """Make an account and use it for every later call in this process: with an invitation
    link's ``code`` (the part after ``/join/``), which also joins its playground, or without one
    where the hub has open sign-up. ``save=True`` keeps the token as ``aims login`` does."""
    url = (url or os.environ.get("AIMS_HUB_URL") or DEFAULT_URL).rstrip("/")
    anonymous = HubClient(url, token="")
    try:
        body = {"username": username, "password": password, "code": code, "email": email}
        token = anonymous.request("POST", "/api/signup", json_body=body)["token"]
    finally:
        anonymous.close()
    return login(url, token, save=save)


def change_password(current: str, new: str, client: HubClient | None = None) -> None:
    """Change your password; your other tokens and web sessions stop working."""
    (client or default_client()).request("POST", "/api/password", json_body={"current": current, "new": new})


__all__ = ["AimsError", "HubClient", "change_password", "default_client", "login", "signup"]
