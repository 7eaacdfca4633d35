"""People joining playgrounds: invitation links, sign-up, and roster imports.

An owner (or co-owner) makes an invitation link with an expiry, a number of uses and optionally
an e-mail domain; whoever opens it joins the playground, signing up on the way if they have no
account. An admin may also let anyone sign up (``AIMS_OPEN_SIGNUP``). A roster import turns a
class list into accounts and memberships, each new account with a one-time sign-in link that
sets its password. Links are shown once; the registry keeps only their SHA-256.

No e-mail leaves the hub: an e-mail domain limits who may use a link by the address they give,
which the hub cannot verify. Hand links out through a channel you trust (a course page).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections import deque
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..domain import InvitationInfo, PlaygroundInfo, RosterEntry, TokenInfo, TokenKind
from ..errors import (
    AuthenticationRequired,
    InvalidInput,
    InvalidSpec,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    UserExists,
)
from . import auth
from .access import Access, Caller, Role
from .accounts import Accounts, check_email
from .playgrounds import Playgrounds
from .registry import InvitationRow, MemberRow, PlaygroundRow, Registry, UserRow, utcnow
from .settings import Settings

log = logging.getLogger(__name__)

MAX_INVITATION_HOURS = 90 * 24
MAX_INVITATION_USES = 1_000
MAX_ROSTER = 500
_DOMAIN = re.compile(r"(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}")


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class SignupLimiter:
    """Sign-ups per client address in a sliding window (each account costs a password hash and
    a row, so one address may not make thousands)."""

    def __init__(self, per_address: int = 20, window_s: float = 3600.0) -> None:
        self.per_address = per_address
        self.window_s = window_s
        self._times: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, address: str | None) -> None:
        now = time.monotonic()
        key = address or "?"
        with self._lock:
            times = self._times.setdefault(key, deque())
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if len(times) >= self.per_address:
                wait = int(times[0] + self.window_s - now) + 1
                raise TooManyAttempts(f"too many sign-ups from this address; try again in {wait} s")
            times.append(now)
            if len(self._times) > 100_000:
                self._times.pop(next(iter(self._times)))


class Invitations:
    """Invitation links, sign-up through them (or openly), and roster imports."""

    def __init__(
        self, registry: Registry, playgrounds: Playgrounds, accounts: Accounts, settings: Settings
    ) -> None:
        self.registry = registry
        self.playgrounds = playgrounds
        self.accounts = accounts
        self.settings = settings
        self.limiter = SignupLimiter(settings.signups_per_address)

    # --- links -------------------------------------------------------------------------------

    def create(
        self,
        caller: Caller | None,
        name: str,
        *,
        expires_in_hours: float = 168,
        max_uses: int = 50,
        email_domain: str | None = None,
        role: str = Role.MEMBER.value,
    ) -> InvitationInfo:
        """A new link to join ``name`` (owner or co-owner); its code is in this answer only."""
        if isinstance(expires_in_hours, bool) or not isinstance(expires_in_hours, (int, float)):
            raise InvalidSpec("expires_in_hours must be a number")
        if not 0 < expires_in_hours <= MAX_INVITATION_HOURS:
            raise InvalidSpec(
                f"expires_in_hours must be in (0, {MAX_INVITATION_HOURS}], got {expires_in_hours}"
            )
        if (
            isinstance(max_uses, bool)
            or not isinstance(max_uses, int)
            or not 1 <= max_uses <= MAX_INVITATION_USES
        ):
            raise InvalidSpec(f"max_uses must be a whole number from 1 to {MAX_INVITATION_USES:,}")
        domain = _check_domain(email_domain) if email_domain else None
        try:
            wanted = Role(role)
        except ValueError:
            raise InvalidSpec(f"role must be 'member' or 'co-owner', got {role!r}") from None
        code = secrets.token_urlsafe(24)
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.MANAGE)
            assert caller is not None
            row = InvitationRow(
                playground_id=pg.id,
                code_hash=_hash(code),
                role=wanted.value,
                email_domain=domain,
                max_uses=max_uses,
                uses=0,
                created_by=caller.user_id,
                expires_at=utcnow() + timedelta(hours=float(expires_in_hours)),
            )
            s.add(row)
            s.flush()
            return _info(row, pg.name, code)

    def list(self, caller: Caller | None, name: str) -> list[InvitationInfo]:
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.MANAGE)
            rows = s.scalars(
                select(InvitationRow).where(InvitationRow.playground_id == pg.id).order_by(InvitationRow.id)
            )
            return [_info(row, pg.name) for row in rows]

    def revoke(self, caller: Caller | None, name: str, invitation_id: int) -> None:
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.MANAGE)
            row = s.get(InvitationRow, invitation_id) if _is_id(invitation_id) else None
            if row is None or row.playground_id != pg.id:
                raise NotFound(f"playground {name!r} has no invitation {invitation_id!r}")
            s.delete(row)

    def peek(self, code: str) -> tuple[str, InvitationInfo]:
        """The playground a valid link leads to (for the page that opens it)."""
        with self.registry.session() as s:
            row, pg = self._valid(s, code)
            return pg.name, _info(row, pg.name)

    # --- joining -----------------------------------------------------------------------------

    def accept(self, caller: Caller | None, code: str, email: str | None = None) -> PlaygroundInfo:
        """The caller joins the playground the link leads to (with the link's role)."""
        if caller is None:
            raise AuthenticationRequired("log in (or sign up) to accept an invitation")
        with self.registry.session() as s:
            row, pg = self._valid(s, code, lock=True)
            user = s.get(UserRow, caller.user_id)
            assert user is not None
            given = check_email(email) if email else None
            _check_email_domain(row, given or user.email)
            if given and not user.email:
                user.email = given
            self._add_member(s, pg, row, caller.user_id)
            info = self.playgrounds.info(s, pg, caller)
        self.playgrounds.access_changed(info.name)
        return info

    def signup(
        self,
        username: str,
        password: str,
        *,
        code: str | None = None,
        email: str | None = None,
        address: str | None = None,
        kind: TokenKind = TokenKind.API,
    ) -> TokenInfo:
        """A new account, joined to the playground of ``code`` if given. Without a code only when
        the hub allows open sign-up. Returns a first token of ``kind``."""
        if code is None and not self.settings.open_signup:
            raise PermissionDenied(
                "this hub has no open sign-up: ask a playground's owner for an invitation link"
            )
        self.limiter.take(address)
        user = self.accounts.new_user_row(username, password, email)
        token = auth.new_token()
        try:
            with self.registry.session() as s:
                found = self._valid(s, code, lock=True) if code is not None else None
                if found is not None:
                    _check_email_domain(found[0], user.email)
                if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
                    raise UserExists(f"the username {username!r} is taken")
                s.add(user)
                s.flush()
                s.add(self.accounts.token_row(user.id, token, "sign-up", kind))
                if found is not None:
                    self._add_member(s, found[1], found[0], user.id)
        except IntegrityError:
            raise UserExists(f"the username {username!r} is taken") from None
        if found is not None:
            self.playgrounds.access_changed(found[1].name)
        log.info("%s signed up%s", username, " through an invitation" if code else "")
        return TokenInfo(username=username, token=token)

    # --- roster ------------------------------------------------------------------------------

    def import_roster(
        self, caller: Caller | None, name: str, rows: list[dict[str, Any]]
    ) -> list[RosterEntry]:
        """Accounts and memberships for a class list (``username`` and optional ``email`` per
        row). Existing users join; new ones get an account without a password and a one-time
        sign-in link (``/signin/<code>``) that sets it. All or nothing."""
        if not isinstance(rows, list) or not rows:
            raise InvalidInput("the roster is empty: give rows with a username (and an optional email)")
        if len(rows) > MAX_ROSTER:
            raise InvalidInput(f"a roster holds at most {MAX_ROSTER} rows; split it ({len(rows)} given)")
        seen: set[str] = set()
        planned: list[tuple[str, str | None]] = []
        for i, r in enumerate(rows, start=1):
            username = str(r.get("username") or "").strip()
            email = str(r.get("email") or "").strip() or None
            try:
                self.accounts.new_user_row(username, None, email)  # checks the name and address
            except InvalidInput as e:
                raise InvalidInput(f"roster row {i}: {e.message}") from None
            if username.lower() in seen:
                raise InvalidInput(f"roster row {i}: {username!r} is listed twice")
            seen.add(username.lower())
            planned.append((username, email))
        out: list[RosterEntry] = []
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.MANAGE)
            for username, email in planned:
                uid = s.scalar(select(UserRow.id).where(UserRow.username == username))
                link = None
                if uid is None:
                    user = self.accounts.new_user_row(username, None, email)
                    s.add(user)
                    s.flush()
                    uid = user.id
                    link = auth.new_token()
                    s.add(self.accounts.token_row(uid, link, "sign-in link", TokenKind.SIGNIN))
                if uid != pg.owner_id and s.get(MemberRow, (pg.id, uid)) is None:
                    s.add(MemberRow(playground_id=pg.id, user_id=uid, role=Role.MEMBER.value))
                out.append(
                    RosterEntry(
                        username=username,
                        created=link is not None,
                        signin_path=f"/signin/{link}" if link else None,
                    )
                )
            s.flush()
        self.playgrounds.access_changed(name)
        return out

    # --- helpers -----------------------------------------------------------------------------

    def _valid(self, s: Any, code: str | None, lock: bool = False) -> tuple[InvitationRow, PlaygroundRow]:
        # An unknown, expired, used-up or revoked link looks the same to its holder.
        invalid = NotFound("this invitation link is not valid (expired, used up, revoked or mistyped)")
        if not isinstance(code, str) or not 16 <= len(code) <= 128:
            raise invalid
        q = select(InvitationRow).where(InvitationRow.code_hash == _hash(code))
        row = s.scalar(q.with_for_update() if lock else q)
        if row is None or row.expires_at <= utcnow() or row.uses >= row.max_uses:
            raise invalid
        pg = s.get(PlaygroundRow, row.playground_id)
        if pg is None:
            raise invalid
        return row, pg

    def _add_member(self, s: Any, pg: PlaygroundRow, row: InvitationRow, user_id: int) -> None:
        if user_id == pg.owner_id:
            return
        member = s.get(MemberRow, (pg.id, user_id))
        if member is None:
            s.add(MemberRow(playground_id=pg.id, user_id=user_id, role=row.role))
        elif row.role == Role.CO_OWNER.value:
            member.role = row.role
        else:
            return  # already a member: the link is not used up by opening it again
        s.execute(update(InvitationRow).where(InvitationRow.id == row.id).values(uses=InvitationRow.uses + 1))
        s.flush()


def _check_domain(domain: str) -> str:
    domain = domain.strip().lstrip("@").lower() if isinstance(domain, str) else ""
    if not _DOMAIN.fullmatch(domain):
        raise InvalidSpec(f"{domain[:80]!r} is not an e-mail domain (like example.edu)")
    return domain


def _check_email_domain(row: InvitationRow, email: str | None) -> None:
    if row.email_domain is None:
        return
    if not email or not email.lower().endswith("@" + row.email_domain):
        raise PermissionDenied(f"this invitation is for e-mail addresses at {row.email_domain}: give yours")


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2**63 - 1


def _info(row: InvitationRow, playground: str, code: str | None = None) -> InvitationInfo:
    return InvitationInfo(
        id=row.id,
        playground=playground,
        role=row.role,
        email_domain=row.email_domain,
        max_uses=row.max_uses,
        uses=row.uses,
        created_at=row.created_at,
        expires_at=row.expires_at,
        code=code,
        path=f"/join/{code}" if code else None,
    )
