"""Teams and final selections: who competes as one entrant, and which entries it stands by.

The rules themselves (team size, the merge rule, leaving, how many finals) are in
:mod:`aims_spaces.hub.competition`; this service reads and writes the registry around them.
A team's join code is shown once, when it is made; the registry keeps only its SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..domain import SubmissionInfo, SubmissionStatus, SubmissionType, TeamInfo, check_text
from ..errors import InvalidSpec, TeamConflict, TeamNotFound
from . import competition
from .access import Access, Caller
from .playgrounds import Playgrounds
from .registry import (
    PlaygroundRow,
    Registry,
    SubmissionRow,
    TeamMemberRow,
    TeamRow,
    UserRow,
    entrant_filter,
    team_of,
    utcnow,
)
from .submissions import Submissions

MAX_TEAM_NAME = 64


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class Teams:
    """Create, join and leave teams; select final entries; list an entrant's entries."""

    def __init__(self, registry: Registry, playgrounds: Playgrounds, submissions: Submissions) -> None:
        self.registry = registry
        self.playgrounds = playgrounds
        self.submissions = submissions

    # --- teams -----------------------------------------------------------------------------

    def create(self, caller: Caller | None, name: str, team: str) -> TeamInfo:
        """Make a team with the caller as its first member; the caller's entries so far become
        the team's. The answer carries the join code (shown this once)."""
        check_text(team, "team name", max_length=MAX_TEAM_NAME)
        if not team.strip():
            raise InvalidSpec("a team needs a name")
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.SUBMIT)
            assert caller is not None
            rules, now = self.playgrounds.rules(pg), utcnow()
            competition.check_open(rules, now, "teams")
            if rules.team_size_limit <= 1:
                raise InvalidSpec("this competition is for individuals: its team size limit is 1")
            if team_of(s, pg.id, caller.user_id) is not None:
                raise TeamConflict("you are already in a team here: leave it first")
            if s.scalar(select(TeamRow.id).where(TeamRow.playground_id == pg.id, TeamRow.name == team)):
                raise TeamConflict(f"a team named {team!r} already exists here")
            code = secrets.token_urlsafe(16)
            row = TeamRow(playground_id=pg.id, name=team, invite_hash=_hash(code), created_by=caller.user_id)
            s.add(row)
            s.flush()
            self._join(s, pg, row, caller)
            return self._info(s, row, code=code)

    def join(self, caller: Caller | None, name: str, code: str) -> TeamInfo:
        """Join the team whose code this is; the caller's entries so far become the team's."""
        if not isinstance(code, str) or not 8 <= len(code) <= 128:
            raise TeamNotFound("no team here has that join code")
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.SUBMIT)
            assert caller is not None
            # Lock the team's row so two joins cannot both pass the size check (PostgreSQL;
            # SQLite's write lock already serialises them).
            row = s.scalar(
                select(TeamRow)
                .where(TeamRow.playground_id == pg.id, TeamRow.invite_hash == _hash(code))
                .with_for_update()
            )
            if row is None:
                raise TeamNotFound("no team here has that join code")
            current = team_of(s, pg.id, caller.user_id)
            if current == row.id:
                return self._info(s, row)
            if current is not None:
                raise TeamConflict("you are already in a team here: leave it first")
            now = utcnow()
            competition.check_join(
                self.playgrounds.rules(pg),
                team_size=self._size(s, row.id),
                team_entries=self._entries(s, pg, caller.user_id, row.id),
                joiner_entries=self._entries(s, pg, caller.user_id, None),
                now=now,
            )
            self._join(s, pg, row, caller)
            return self._info(s, row)

    def leave(self, caller: Caller | None, name: str) -> None:
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.SUBMIT)
            assert caller is not None
            team_id = team_of(s, pg.id, caller.user_id)
            if team_id is None:
                raise TeamNotFound("you are in no team here")
            own = s.scalar(
                select(func.count())
                .select_from(SubmissionRow)
                .where(SubmissionRow.team_id == team_id, SubmissionRow.user_id == caller.user_id)
            )
            competition.check_leave(self.playgrounds.rules(pg), own_entries=int(own or 0), now=utcnow())
            s.execute(
                TeamMemberRow.__table__.delete().where(
                    TeamMemberRow.team_id == team_id, TeamMemberRow.user_id == caller.user_id
                )
            )
            if self._size(s, team_id) == 0:
                s.execute(TeamRow.__table__.delete().where(TeamRow.id == team_id))
            pg.entrants_changed_at = utcnow()

    def new_code(self, caller: Caller | None, name: str) -> TeamInfo:
        """A new join code for the caller's team (the old one stops working)."""
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.SUBMIT)
            assert caller is not None
            row = self._mine(s, pg, caller)
            code = secrets.token_urlsafe(16)
            row.invite_hash = _hash(code)
            s.flush()
            return self._info(s, row, code=code)

    def mine(self, caller: Caller | None, name: str) -> TeamInfo:
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.SUBMIT)
            assert caller is not None
            return self._info(s, self._mine(s, pg, caller))

    def list(self, caller: Caller | None, name: str) -> list[TeamInfo]:
        """Every team of the playground with its members (names are on the board anyway)."""
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.READ)
            rows = s.scalars(select(TeamRow).where(TeamRow.playground_id == pg.id).order_by(TeamRow.name))
            return [self._info(s, row) for row in rows]

    # --- final selections ------------------------------------------------------------------

    def entries(self, caller: Caller | None, name: str) -> list[SubmissionInfo]:
        """The caller's entrant's submissions (their team's, or their own), every type."""
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.SUBMIT)
            assert caller is not None
            team_id = team_of(s, pg.id, caller.user_id)
            rows = s.scalars(
                select(SubmissionRow)
                .where(*entrant_filter(pg.id, caller.user_id, team_id))
                .order_by(SubmissionRow.version)
            )
            return [self.submissions.info(s, pg, row, caller) for row in rows]

    def select_final(self, caller: Caller | None, name: str, versions: list[int]) -> list[SubmissionInfo]:
        """Mark exactly ``versions`` as the entrant's final entries (an empty list clears the
        choice: then its best public entries count)."""
        if not isinstance(versions, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in versions
        ):
            raise InvalidSpec("versions must be a list of whole numbers")
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.SUBMIT)
            assert caller is not None
            team_id = team_of(s, pg.id, caller.user_id)
            mine = entrant_filter(pg.id, caller.user_id, team_id)
            eligible = set(
                s.scalars(
                    select(SubmissionRow.version).where(
                        *mine,
                        SubmissionRow.status == SubmissionStatus.SCORED.value,
                        SubmissionRow.submission_type.in_([t.value for t in competition.COMPETING]),
                    )
                )
            )
            competition.check_selection(self.playgrounds.rules(pg), versions, eligible, utcnow())
            pg.entrants_changed_at = utcnow()
            s.execute(update(SubmissionRow).where(*mine).values(selected=False))
            if versions:
                s.execute(
                    update(SubmissionRow)
                    .where(*mine, SubmissionRow.version.in_(versions))
                    .values(selected=True)
                )
            rows = s.scalars(
                select(SubmissionRow)
                .where(*mine, SubmissionRow.selected.is_(True))
                .order_by(SubmissionRow.version)
            )
            return [self.submissions.info(s, pg, row, caller) for row in rows]

    # --- helpers ---------------------------------------------------------------------------

    def _mine(self, s: Session, pg: PlaygroundRow, caller: Caller) -> TeamRow:
        team_id = team_of(s, pg.id, caller.user_id)
        row = s.get(TeamRow, team_id) if team_id is not None else None
        if row is None:
            raise TeamNotFound("you are in no team here")
        return row

    @staticmethod
    def _size(s: Session, team_id: int) -> int:
        return int(
            s.scalar(select(func.count()).select_from(TeamMemberRow).where(TeamMemberRow.team_id == team_id))
            or 0
        )

    @staticmethod
    def _entries(s: Session, pg: PlaygroundRow, user_id: int, team_id: int | None) -> int:
        """Entries that count toward the merge rule: every submission that is not a failure
        (while a competition is open, experiments count toward the quota too)."""
        return int(
            s.scalar(
                select(func.count())
                .select_from(SubmissionRow)
                .where(
                    *entrant_filter(pg.id, user_id, team_id),
                    SubmissionRow.status.in_([st.value for st in competition.COUNTED]),
                    SubmissionRow.submission_type.in_([t.value for t in SubmissionType]),
                )
            )
            or 0
        )

    @staticmethod
    def _join(s: Session, pg: PlaygroundRow, team: TeamRow, caller: Caller) -> None:
        s.add(TeamMemberRow(team_id=team.id, user_id=caller.user_id, playground_id=pg.id))
        pg.entrants_changed_at = utcnow()
        # The participant's entries so far become the team's, with their final choices cleared
        # (the team chooses again).
        s.execute(
            update(SubmissionRow)
            .where(*entrant_filter(pg.id, caller.user_id, None))
            .values(team_id=team.id, selected=False)
        )
        s.flush()

    @staticmethod
    def _info(s: Session, row: TeamRow, code: str | None = None) -> TeamInfo:
        members = s.scalars(
            select(UserRow.username)
            .join(TeamMemberRow, TeamMemberRow.user_id == UserRow.id)
            .where(TeamMemberRow.team_id == row.id)
            .order_by(TeamMemberRow.joined_at, UserRow.username)
        ).all()
        pg_name = s.scalar(select(PlaygroundRow.name).where(PlaygroundRow.id == row.playground_id))
        return TeamInfo(
            playground=str(pg_name),
            name=row.name,
            members=list(members),
            created_at=row.created_at,
            join_code=code,
        )
