"""Who may do what with a playground. Every service call goes through :func:`check`.

A private playground is invisible to non-members: asking for it answers "not found", the same
as for a name that does not exist, so its existence does not leak.

Roles: the owner; co-owners (a teaching assistant: members who may do everything the owner may
except delete the playground); members; and, on public playgrounds, everyone else who is logged
in (they may read and submit) or not (they may read the boards). Admins may do everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from ..errors import AuthenticationRequired, PermissionDenied, PlaygroundNotFound
from .registry import MemberRow, PlaygroundRow


@dataclass(frozen=True)
class Caller:
    """An authenticated user. Anonymous callers are ``None``."""

    user_id: int
    username: str
    is_admin: bool = False
    token_id: int | None = None  # the token this call came with (logout revokes it)


class Access(IntEnum):
    LEADERBOARD = 1  # read the boards (anonymous callers too, on public playgrounds)
    READ = 2  # playground details, eval features, example data, submissions' artifacts
    SUBMIT = 3
    MANAGE = 4  # owner, co-owner or admin: members, competition settings, private scores
    OWN = 5  # owner or admin: delete the playground


class Role(StrEnum):
    MEMBER = "member"
    CO_OWNER = "co-owner"


def is_member(session: Session, pg: PlaygroundRow, caller: Caller) -> bool:
    if caller.is_admin or pg.owner_id == caller.user_id:
        return True
    return (
        session.scalar(
            select(MemberRow.user_id).where(
                MemberRow.playground_id == pg.id, MemberRow.user_id == caller.user_id
            )
        )
        is not None
    )


def is_owner(pg: PlaygroundRow, caller: Caller | None) -> bool:
    return caller is not None and (caller.is_admin or pg.owner_id == caller.user_id)


def can_manage(pg: PlaygroundRow, caller: Caller | None) -> bool:
    """Owner, co-owner or admin. ``pg`` must belong to an open session (the co-owner role is
    looked up once per session and playground)."""
    if caller is None:
        return False
    if is_owner(pg, caller):
        return True
    session = object_session(pg)
    if session is None:
        return False
    key = ("aims_role", pg.id, caller.user_id)
    if key not in session.info:
        session.info[key] = session.scalar(
            select(MemberRow.role).where(
                MemberRow.playground_id == pg.id, MemberRow.user_id == caller.user_id
            )
        )
    return session.info[key] == Role.CO_OWNER.value


def check(
    session: Session, pg: PlaygroundRow | None, name: str, caller: Caller | None, need: Access
) -> PlaygroundRow:
    """Return ``pg`` if ``caller`` has ``need`` on it; raise the error the caller may see."""
    if pg is None:
        raise PlaygroundNotFound(_not_found(name))
    if pg.private:
        if caller is None:
            raise PlaygroundNotFound(_not_found(name))
        if not is_member(session, pg, caller):
            raise PlaygroundNotFound(_not_found(name))
    if need > Access.LEADERBOARD and caller is None:
        raise AuthenticationRequired("this needs an API token: log in with `aims login`, or set AIMS_TOKEN")
    if need is Access.MANAGE and not can_manage(pg, caller):
        raise PermissionDenied(f"only the owner or a co-owner of playground {name!r} may do this")
    if need is Access.OWN and not is_owner(pg, caller):
        raise PermissionDenied(f"only the owner of playground {name!r} may do this")
    return pg


def _not_found(name: str) -> str:
    return f"playground {name!r} does not exist, or it is private and you are not a member"
