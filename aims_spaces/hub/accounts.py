"""Users, passwords and API tokens.

Tokens are stored hashed, expire (API tokens after ``token_ttl_days``, web sessions after
``session_ttl_hours``), and can be listed and revoked by their owner; logging out revokes the
session's token. Failed logins are rate-limited per username and per client address
(:class:`LoginLimiter`), and passwords are hashed outside any registry transaction, so a burst
of logins never holds the registry's write lock for the ~50 ms a scrypt hash takes.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ..domain import TokenDetails, TokenInfo, TokenKind, UserInfo, check_text, check_username
from ..errors import (
    AuthenticationRequired,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    UserExists,
    UserNotFound,
)
from . import auth
from .access import Caller
from .registry import ApiTokenRow, Registry, UserRow, utcnow
from .storage import write_file

MAX_PASSWORD = 1024
DEFAULT_TOKEN_TTL = timedelta(days=90)
DEFAULT_SESSION_TTL = timedelta(hours=168)
SIGNIN_TTL = timedelta(days=14)  # one-time sign-in links from a roster import

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdminCredentials:
    username: str
    password: str
    token: str
    path: Path


def _user_info(user: UserRow) -> UserInfo:
    return UserInfo(username=user.username, is_admin=user.is_admin, created_at=user.created_at)


class LoginLimiter:
    """Failed logins in a sliding window, counted three ways: per username from one address
    (the lock a guesser meets first), per address whatever the names (one machine guessing many
    accounts), and per username from every address together, with a higher limit (many machines
    guessing one account). A stranger can so lock an account only by failing its login from many
    addresses. In memory: a restart forgets the counts, which only gives an attacker one more
    window."""

    MAX_KEYS = 100_000

    def __init__(self, per_user: int = 10, per_ip: int = 50, window_s: float = 900.0) -> None:
        self.per_user = per_user
        self.per_ip = per_ip
        self.per_user_everywhere = per_user * 10
        self.window_s = window_s
        self._failures: dict[tuple[str, ...], deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str | None) -> list[tuple[tuple[str, ...], int, str]]:
        user, ip = username.lower(), address or "?"
        return [
            (("user-ip", user, ip), self.per_user, "for this account from this address"),
            (("ip", ip), self.per_ip, "from this address"),
            (("user", user), self.per_user_everywhere, "for this account"),
        ]

    def _recent(self, key: tuple[str, ...], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def check(self, username: str, address: str | None) -> None:
        """Raise :class:`TooManyAttempts` when this user or address failed too often lately."""
        now = time.monotonic()
        with self._lock:
            for key, limit, what in self._keys(username, address):
                times = self._recent(key, now)
                if len(times) >= limit:
                    wait = int(times[0] + self.window_s - now) + 1
                    raise TooManyAttempts(f"too many failed logins {what}; try again in {wait} s")

    def failed(self, username: str, address: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            for key, _, _ in self._keys(username, address):
                self._recent(key, now)
                self._failures.setdefault(key, deque()).append(now)
            while len(self._failures) > self.MAX_KEYS:  # a flood of made-up names: forget the oldest
                del self._failures[next(iter(self._failures))]

    def succeeded(self, username: str, address: str | None) -> None:
        with self._lock:
            self._failures.pop(("user-ip", username.lower(), address or "?"), None)


class Accounts:
    """Users and their credentials: the first admin, logins, API tokens, and turning a token into
    the :class:`~aims_spaces.hub.access.Caller` every other service takes."""

    def __init__(
        self,
        registry: Registry,
        *,
        token_ttl: timedelta = DEFAULT_TOKEN_TTL,
        session_ttl: timedelta = DEFAULT_SESSION_TTL,
        limiter: LoginLimiter | None = None,
    ) -> None:
        self.registry = registry
        self.token_ttl = token_ttl
        self.session_ttl = session_ttl
        self.limiter = limiter or LoginLimiter()

    def token_row(self, user_id: int, token: str, name: str, kind: TokenKind) -> ApiTokenRow:
        ttl = {TokenKind.SESSION: self.session_ttl, TokenKind.SIGNIN: SIGNIN_TTL}.get(kind, self.token_ttl)
        return ApiTokenRow(
            user_id=user_id,
            token_hash=auth.token_hash(token),
            name=name[:128],
            kind=kind.value,
            expires_at=utcnow() + ttl,
        )

    def ensure_admin(self, username: str, credentials_path: Path, hub_url: str) -> AdminCredentials | None:
        """On an empty registry create the admin and write its credentials (mode 0600)."""
        password = auth.new_password()
        password_hash = auth.hash_password(password)
        token = auth.new_token()
        with self.registry.session() as s:
            if s.scalar(select(func.count()).select_from(UserRow)):
                return None
            user = UserRow(username=username, password_hash=password_hash, is_admin=True)
            s.add(user)
            s.flush()
            s.add(self.token_row(user.id, token, "first start", TokenKind.API))
            credentials = {
                "url": hub_url,
                "username": username,
                "password": password,
                "token": token,
                "login": f"aims login {hub_url} --token {token}",
            }
            write_file(credentials_path, json.dumps(credentials, indent=2).encode())
        return AdminCredentials(username, password, token, credentials_path)

    def authenticate(self, token: str | None) -> Caller | None:
        """The caller a token belongs to; ``None`` for no token; an error for a wrong, revoked or
        expired one."""
        if not token:
            return None
        if len(token) > 256:
            raise AuthenticationRequired(
                "the API token is not valid (revoked, expired, mistyped or from another hub)"
            )
        with self.registry.session() as s:
            row = s.execute(
                select(UserRow.id, UserRow.username, UserRow.is_admin, ApiTokenRow.id.label("token_id"))
                .join(ApiTokenRow, ApiTokenRow.user_id == UserRow.id)
                .where(
                    ApiTokenRow.token_hash == auth.token_hash(token),
                    ApiTokenRow.expires_at > utcnow(),
                    ApiTokenRow.kind != TokenKind.SIGNIN.value,  # a sign-in link only sets a password
                )
            ).first()
        if row is None:
            raise AuthenticationRequired(
                "the API token is not valid (revoked, expired, mistyped or from another hub)"
            )
        return Caller(user_id=row.id, username=row.username, is_admin=row.is_admin, token_id=row.token_id)

    def login(
        self,
        username: str,
        password: str,
        token_name: str = "",
        *,
        kind: TokenKind = TokenKind.API,
        address: str | None = None,
    ) -> TokenInfo:
        """A new token for a username and password. Failed attempts are rate-limited per user and
        per ``address``; the password is checked outside any registry transaction."""
        if not isinstance(username, str) or not isinstance(password, str):
            raise InvalidInput("username and password must be text")
        check_text(token_name, "token_name", max_length=128)
        wrong = AuthenticationRequired("wrong username or password")
        self.limiter.check(username[:64], address)
        if len(username) > 64 or len(password) > MAX_PASSWORD or not _is_text(username + password):
            self.limiter.failed(username[:64], address)
            raise wrong
        with self.registry.session() as s:
            row = s.execute(
                select(UserRow.id, UserRow.password_hash).where(UserRow.username == username)
            ).first()
        if row is None or row.password_hash is None:
            # The same time as a wrong password, for unknown users and for accounts that have
            # no password yet (made by a roster import, waiting for their sign-in link).
            auth.verify_password(password, auth.DUMMY_HASH)
            self.limiter.failed(username, address)
            raise wrong
        if not auth.verify_password(password, row.password_hash):
            self.limiter.failed(username, address)
            raise wrong
        self.limiter.succeeded(username, address)
        token = auth.new_token()
        with self.registry.session() as s:
            s.add(self.token_row(row.id, token, token_name, kind))
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
        if password is not None:
            check_password(password)
        password = password or auth.new_password()
        password_hash = auth.hash_password(password)
        token = auth.new_token()
        try:
            with self.registry.session() as s:
                if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
                    raise UserExists(f"user {username!r} already exists")
                user = UserRow(username=username, password_hash=password_hash, is_admin=is_admin)
                s.add(user)
                s.flush()
                s.add(self.token_row(user.id, token, "created", TokenKind.API))
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

    # --- passwords and sign-up ----------------------------------------------------------------

    def change_password(self, caller: Caller | None, old: str, new: str, address: str | None = None) -> None:
        """Change the caller's password; every other token of theirs is revoked (a stolen
        session ends with it)."""
        if caller is None:
            raise AuthenticationRequired("changing a password needs an API token")
        if not isinstance(old, str):
            raise InvalidInput("the current password must be text")
        check_password(new)
        self.limiter.check(caller.username, address)
        with self.registry.session() as s:
            stored = s.scalar(select(UserRow.password_hash).where(UserRow.id == caller.user_id))
        if len(old) > MAX_PASSWORD or not _is_text(old) or not auth.verify_password(old, stored):
            self.limiter.failed(caller.username, address)
            raise PermissionDenied("the current password is wrong")
        new_hash = auth.hash_password(new)
        with self.registry.session() as s:
            s.execute(update(UserRow).where(UserRow.id == caller.user_id).values(password_hash=new_hash))
            s.execute(
                delete(ApiTokenRow).where(
                    ApiTokenRow.user_id == caller.user_id, ApiTokenRow.id != (caller.token_id or -1)
                )
            )
        log.info("%s changed their password", caller.username)

    def reset_password(self, caller: Caller | None, username: str, password: str | None = None) -> str:
        """Admin only: give ``username`` a new password (generated unless given) and revoke every
        token of theirs. Returns the password, to hand over."""
        if caller is None:
            raise AuthenticationRequired("resetting a password needs an admin's API token")
        if not caller.is_admin:
            raise PermissionDenied("only an admin may reset another user's password")
        check_username(username)
        if password is not None:
            check_password(password)
        password = password or auth.new_password()
        new_hash = auth.hash_password(password)
        with self.registry.session() as s:
            uid = s.scalar(select(UserRow.id).where(UserRow.username == username))
            if uid is None:
                raise UserNotFound(f"no user named {username!r}")
            s.execute(update(UserRow).where(UserRow.id == uid).values(password_hash=new_hash))
            s.execute(delete(ApiTokenRow).where(ApiTokenRow.user_id == uid))
        log.info("%s reset the password of %s", caller.username, username)
        return password

    def new_user_row(self, username: str, password: str | None, email: str | None = None) -> UserRow:
        """A user row for a sign-up or a roster import (checked; not yet added to a session)."""
        check_username(username)
        if password is not None:
            check_password(password)
        return UserRow(
            username=username,
            password_hash=auth.hash_password(password) if password is not None else None,
            is_admin=False,
            email=check_email(email) if email else None,
        )

    def signup(self, username: str, password: str, email: str | None = None) -> tuple[UserInfo, TokenInfo]:
        """Open sign-up (when the hub allows it): a new account and a first API token."""
        row = self.new_user_row(username, password, email)
        token = auth.new_token()
        try:
            with self.registry.session() as s:
                if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
                    raise UserExists(f"the username {username!r} is taken")
                s.add(row)
                s.flush()
                s.add(self.token_row(row.id, token, "sign-up", TokenKind.API))
                info = _user_info(row)
        except IntegrityError:
            raise UserExists(f"the username {username!r} is taken") from None
        return info, TokenInfo(username=username, token=token)

    def redeem_signin(self, token: str, password: str, kind: TokenKind = TokenKind.SESSION) -> TokenInfo:
        """Use a one-time sign-in link: set the account's password, end the link, and return a
        new token of ``kind`` (a web session for the browser)."""
        check_password(password)
        invalid = AuthenticationRequired("this sign-in link is not valid (used, expired or mistyped)")
        if not isinstance(token, str) or len(token) > 256:
            raise invalid
        new_hash = auth.hash_password(password)
        fresh = auth.new_token()
        with self.registry.session() as s:
            row = s.execute(
                select(ApiTokenRow.id, UserRow.id.label("user_id"), UserRow.username)
                .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                .where(
                    ApiTokenRow.token_hash == auth.token_hash(token),
                    ApiTokenRow.kind == TokenKind.SIGNIN.value,
                    ApiTokenRow.expires_at > utcnow(),
                )
            ).first()
            if row is None:
                raise invalid
            s.execute(delete(ApiTokenRow).where(ApiTokenRow.id == row.id))
            s.execute(update(UserRow).where(UserRow.id == row.user_id).values(password_hash=new_hash))
            s.add(self.token_row(row.user_id, fresh, "sign-in link", kind))
        return TokenInfo(username=row.username, token=fresh)

    def service_token(self, username: str, name: str, ttl: timedelta = timedelta(hours=2)) -> str | None:
        """A short-lived API token of the admin ``username`` (or of any admin) for the hub's own
        use (seeding the demos through the REST API); None when there is no admin."""
        with self.registry.session() as s:
            uid = s.scalar(select(UserRow.id).where(UserRow.username == username, UserRow.is_admin.is_(True)))
            if uid is None:
                uid = s.scalar(
                    select(UserRow.id).where(UserRow.is_admin.is_(True)).order_by(UserRow.id).limit(1)
                )
            if uid is None:
                return None
            # One at a time: a run killed while seeding left its token behind.
            s.execute(delete(ApiTokenRow).where(ApiTokenRow.user_id == uid, ApiTokenRow.name == name))
            token = auth.new_token()
            row = self.token_row(uid, token, name, TokenKind.API)
            row.expires_at = utcnow() + ttl
            s.add(row)
        return token

    def revoke_service_token(self, token: str) -> None:
        with self.registry.session() as s:
            s.execute(delete(ApiTokenRow).where(ApiTokenRow.token_hash == auth.token_hash(token)))

    # --- the caller's own tokens --------------------------------------------------------------

    def tokens(self, caller: Caller | None) -> list[TokenDetails]:
        """The caller's tokens that have not expired, newest first (never the tokens themselves)."""
        if caller is None:
            raise AuthenticationRequired("listing tokens needs an API token")
        with self.registry.session() as s:
            rows = s.scalars(
                select(ApiTokenRow)
                .where(
                    ApiTokenRow.user_id == caller.user_id,
                    ApiTokenRow.expires_at > utcnow(),
                    ApiTokenRow.kind != TokenKind.SIGNIN.value,
                )
                .order_by(ApiTokenRow.id.desc())
            ).all()
            return [
                TokenDetails(
                    id=r.id,
                    name=r.name,
                    kind=TokenKind(r.kind),
                    created_at=r.created_at,
                    expires_at=r.expires_at,
                    current=r.id == caller.token_id,
                )
                for r in rows
            ]

    def revoke(self, caller: Caller | None, token_id: int | None = None) -> None:
        """Revoke one of the caller's tokens (by id), or the one the caller is using (logout)."""
        if caller is None:
            raise AuthenticationRequired("revoking a token needs an API token")
        target = caller.token_id if token_id is None else token_id
        if isinstance(target, bool) or not isinstance(target, int) or not 1 <= target <= 2**63 - 1:
            raise NotFound(f"you have no token with id {token_id!r}")
        with self.registry.session() as s:
            done = s.execute(
                delete(ApiTokenRow).where(ApiTokenRow.id == target, ApiTokenRow.user_id == caller.user_id)
            ).rowcount
        if not done:
            raise NotFound(f"you have no token with id {target}")
        log.info("token %d of %s revoked", target, caller.username)

    def purge_expired(self, older_than: timedelta = timedelta(days=30)) -> int:
        """Delete tokens that expired more than ``older_than`` ago (housekeeping at start)."""
        with self.registry.session() as s:
            return int(
                s.execute(delete(ApiTokenRow).where(ApiTokenRow.expires_at < utcnow() - older_than)).rowcount
                or 0
            )


_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}")


def check_email(email: object) -> str:
    """An e-mail address as given (it is not verified: no mail leaves the hub)."""
    if not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email) or not _is_text(email):
        raise InvalidInput(f"{str(email)[:80]!r} is not an e-mail address")
    return email.strip()


def check_password(password: object) -> str:
    """A new password: 8 to 1024 characters of valid text."""
    if not isinstance(password, str) or not _is_text(password):
        raise InvalidInput("the password must be valid Unicode text")
    if len(password) < 8:
        raise InvalidInput("the password must have at least 8 characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"the password may have at most {MAX_PASSWORD} characters")
    return password


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
