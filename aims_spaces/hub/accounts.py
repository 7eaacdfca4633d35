"""Users, passwords and API tokens."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..domain import TokenInfo, UserInfo, check_username
from ..errors import AuthenticationRequired, InvalidInput, PermissionDenied, UserExists, UserNotFound
from . import auth
from .access import Caller
from .registry import ApiTokenRow, Registry, UserRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdminCredentials:
    username: str
    password: str
    token: str
    path: Path


def _user_info(user: UserRow) -> UserInfo:
    return UserInfo(username=user.username, is_admin=user.is_admin, created_at=user.created_at)


class Accounts:
    """Users and their credentials: the first admin, logins, API tokens, and turning a token into
    the :class:`~aims_spaces.hub.access.Caller` every other service takes."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def ensure_admin(self, username: str, credentials_path: Path, hub_url: str) -> AdminCredentials | None:
        """On an empty registry create the admin and write its credentials (mode 0600)."""
        with self.registry.session() as s:
            if s.scalar(select(func.count()).select_from(UserRow)):
                return None
            password = auth.new_password()
            token = auth.new_token()
            user = UserRow(username=username, password_hash=auth.hash_password(password), is_admin=True)
            s.add(user)
            s.flush()
            s.add(ApiTokenRow(user_id=user.id, token_hash=auth.token_hash(token), name="first start"))
            credentials_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = credentials_path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(
                    {
                        "url": hub_url,
                        "username": username,
                        "password": password,
                        "token": token,
                        "login": f"aims login {hub_url} --token {token}",
                    },
                    f,
                    indent=2,
                )
            os.replace(tmp, credentials_path)
        return AdminCredentials(username, password, token, credentials_path)

    def authenticate(self, token: str | None) -> Caller | None:
        """The caller a token belongs to; ``None`` for no token; an error for a wrong one."""
        if not token:
            return None
        with self.registry.session() as s:
            row = s.execute(
                select(UserRow.id, UserRow.username, UserRow.is_admin)
                .join(ApiTokenRow, ApiTokenRow.user_id == UserRow.id)
                .where(ApiTokenRow.token_hash == auth.token_hash(token))
            ).first()
        if row is None:
            raise AuthenticationRequired("the API token is not valid (revoked, mistyped or from another hub)")
        return Caller(user_id=row.id, username=row.username, is_admin=row.is_admin)

    def login(self, username: str, password: str, token_name: str = "") -> TokenInfo:
        with self.registry.session() as s:
            user = s.scalar(select(UserRow).where(UserRow.username == username))
            if user is None or not auth.verify_password(password, user.password_hash):
                raise AuthenticationRequired("wrong username or password")
            token = auth.new_token()
            s.add(ApiTokenRow(user_id=user.id, token_hash=auth.token_hash(token), name=token_name[:128]))
        return TokenInfo(username=username, token=token)

    def create_user(
        self, caller: Caller | None, username: str, password: str | None = None, is_admin: bool = False
    ) -> tuple[UserInfo, TokenInfo, str]:
        """Admin only. Returns the user, a first API token and the password (generated if None)."""
        if caller is None:
            raise AuthenticationRequired("creating users needs an admin's API token")
        if not caller.is_admin:
            raise PermissionDenied("only an admin may create users")
        check_username(username)
        if password is not None and len(password) < 8:
            raise InvalidInput("the password must have at least 8 characters")
        password = password or auth.new_password()
        token = auth.new_token()
        try:
            with self.registry.session() as s:
                if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
                    raise UserExists(f"user {username!r} already exists")
                user = UserRow(
                    username=username, password_hash=auth.hash_password(password), is_admin=is_admin
                )
                s.add(user)
                s.flush()
                s.add(ApiTokenRow(user_id=user.id, token_hash=auth.token_hash(token), name="created"))
                info = _user_info(user)
        except IntegrityError:
            raise UserExists(f"user {username!r} already exists") from None
        return info, TokenInfo(username=username, token=token), password

    def whoami(self, caller: Caller | None) -> UserInfo:
        if caller is None:
            raise AuthenticationRequired("no API token given")
        with self.registry.session() as s:
            user = s.get(UserRow, caller.user_id)
            if user is None:
                raise UserNotFound(f"user {caller.username!r} no longer exists")
            return _user_info(user)

    def user_id(self, username: str) -> int:
        with self.registry.session() as s:
            uid = s.scalar(select(UserRow.id).where(UserRow.username == username))
        if uid is None:
            raise UserNotFound(f"no user named {username!r}")
        return uid
