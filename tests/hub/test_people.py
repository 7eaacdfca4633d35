"""People through the service layer (no Ray, no web server): invitation links (expiry, uses,
e-mail domain, role), sign-up, roster imports with one-time sign-in links, co-owners, and
passwords changed and reset."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from aims_spaces.domain import TokenKind
from aims_spaces.errors import (
    AuthenticationRequired,
    InvalidInput,
    InvalidSpec,
    NotFound,
    PermissionDenied,
    PlaygroundNotFound,
    TooManyAttempts,
    UserExists,
)
from aims_spaces.hub.registry import InvitationRow, utcnow


@pytest.fixture
def course(service, iris):
    owner = service.user("teacher")
    service.playground(owner, "course", iris, private=True)
    return owner


def test_an_invitation_link_signs_people_up_into_a_private_playground(service, course):
    invites = service.hub.invitations
    link = invites.create(course, "course", max_uses=2, expires_in_hours=24)
    assert link.path == f"/join/{link.code}" and link.uses == 0
    assert invites.peek(link.code)[0] == "course"
    token = invites.signup("stu1", "password-1", code=link.code, address="10.0.0.1")
    stu1 = service.hub.accounts.authenticate(token.token)
    assert service.hub.playgrounds.get(stu1, "course").members == ["stu1"]
    # A user who already has an account accepts the link while logged in.
    stu2 = service.user("stu2")
    with pytest.raises(PlaygroundNotFound):
        service.hub.playgrounds.get(stu2, "course")
    assert "stu2" in invites.accept(stu2, link.code).members
    # Used up: the third person is refused, and nothing of theirs is made.
    with pytest.raises(NotFound, match="not valid"):
        invites.signup("stu3", "password-3", code=link.code, address="10.0.0.1")
    with pytest.raises(AuthenticationRequired):
        service.hub.accounts.login("stu3", "password-3")
    assert [i.uses for i in invites.list(course, "course")] == [2]
    assert invites.list(course, "course")[0].code is None  # shown once

    # Expired links and revoked links are refused alike; a participant cannot make links.
    late = invites.create(course, "course")
    with service.hub.registry.session() as s:
        s.execute(update(InvitationRow).where(InvitationRow.id == late.id).values(expires_at=utcnow()))
    with pytest.raises(NotFound):
        invites.accept(service.user("stu4"), late.code)
    gone = invites.create(course, "course")
    invites.revoke(course, "course", gone.id)
    with pytest.raises(NotFound):
        invites.peek(gone.code)
    with pytest.raises(PermissionDenied):
        invites.create(stu1, "course")
    with pytest.raises(InvalidSpec):
        invites.create(course, "course", max_uses=0)
    with pytest.raises(InvalidSpec):
        invites.create(course, "course", expires_in_hours=24 * 365)


def test_an_invitation_limited_to_an_email_domain(service, course):
    link = service.hub.invitations.create(course, "course", email_domain="@uni.example.edu")
    assert link.email_domain == "uni.example.edu"
    with pytest.raises(PermissionDenied, match="uni.example.edu"):
        service.hub.invitations.signup("eve", "password-e", code=link.code, email="eve@evil.example")
    with pytest.raises(PermissionDenied):
        service.hub.invitations.signup("eve", "password-e", code=link.code)
    service.hub.invitations.signup("ada", "password-a", code=link.code, email="ada@uni.example.edu")
    with pytest.raises(InvalidInput, match="not an e-mail"):
        service.hub.invitations.signup("bo", "password-b", code=link.code, email="bo@")


def test_sign_up_is_closed_unless_open_and_limited_per_address(service, course):
    with pytest.raises(PermissionDenied, match="no open sign-up"):
        service.hub.invitations.signup("walkin", "password-w")
    service.hub.settings.open_signup = True
    try:
        service.hub.invitations.signup("walkin", "password-w", address="10.9.9.9")
        with pytest.raises(UserExists):
            service.hub.invitations.signup("walkin", "password-x", address="10.9.9.8")
        service.hub.invitations.limiter.per_address = 2
        service.hub.invitations.signup("walkin2", "password-w", address="10.9.9.9")
        with pytest.raises(TooManyAttempts):
            service.hub.invitations.signup("walkin3", "password-w", address="10.9.9.9")
    finally:
        service.hub.settings.open_signup = False


def test_a_roster_makes_accounts_with_one_time_signin_links(service, course):
    existing = service.user("known")
    rows = [{"username": "ann", "email": "ann@uni.example.edu"}, {"username": "known"}, {"username": "bea"}]
    out = service.hub.invitations.import_roster(course, "course", rows)
    assert [(e.username, e.created) for e in out] == [("ann", True), ("known", False), ("bea", True)]
    assert out[1].signin_path is None
    info = service.hub.playgrounds.get(course, "course")
    assert info.members == ["ann", "bea", "known"]
    link = out[0].signin_path.removeprefix("/signin/")
    # The link is no API token; it sets a password once and gives a session.
    with pytest.raises(AuthenticationRequired):
        service.hub.accounts.authenticate(link)
    with pytest.raises(AuthenticationRequired):
        service.hub.accounts.login("ann", "")
    session = service.hub.accounts.redeem_signin(link, "ann-password")
    ann = service.hub.accounts.authenticate(session.token)
    assert ann.username == "ann"
    assert [t.kind for t in service.hub.accounts.tokens(ann)] == [TokenKind.SESSION]
    with pytest.raises(AuthenticationRequired, match="sign-in link"):
        service.hub.accounts.redeem_signin(link, "again-password")
    service.hub.accounts.login("ann", "ann-password")
    # All or nothing: a bad row refuses the whole roster.
    with pytest.raises(InvalidInput, match="row 2"):
        service.hub.invitations.import_roster(
            course, "course", [{"username": "cy"}, {"username": "bad name"}]
        )
    with pytest.raises(AuthenticationRequired):
        service.hub.accounts.login("cy", "x")
    with pytest.raises(PermissionDenied):
        service.hub.invitations.import_roster(existing, "course", [{"username": "dee"}])


def test_a_co_owner_does_what_the_owner_does_but_delete(service, course, iris):
    ta, stu = service.user("ta"), service.user("stu")
    service.hub.playgrounds.add_member(course, "course", "ta", role="co-owner")
    service.hub.playgrounds.add_member(course, "course", "stu")
    info = service.hub.playgrounds.get(ta, "course")
    assert info.co_owners == ["ta"] and info.members == ["stu", "ta"]
    # Everything an owner may do...
    service.hub.playgrounds.update_competition(ta, "course", daily_submission_limit=7)
    service.hub.invitations.create(ta, "course")
    service.hub.playgrounds.add_member(ta, "course", "stu", role="member")
    sub = service.submit_predictions(stu, "course", iris["y_test"])
    assert "private" in service.hub.submissions.get(ta, "course", sub.version).scores
    assert "private" not in service.hub.submissions.get(stu, "course", sub.version).scores
    # ... but delete the playground; a plain member manages nothing.
    with pytest.raises(PermissionDenied, match="only the owner of"):
        service.hub.playgrounds.delete(ta, "course")
    with pytest.raises(PermissionDenied):
        service.hub.playgrounds.update_competition(stu, "course", close=True)
    with pytest.raises(InvalidSpec, match="role"):
        service.hub.playgrounds.add_member(course, "course", "stu", role="king")
    service.hub.playgrounds.add_member(course, "course", "ta", role="member")
    with pytest.raises(PermissionDenied):
        service.hub.playgrounds.update_competition(ta, "course", close=True)
    service.hub.playgrounds.delete(course, "course")


def test_passwords_are_changed_by_their_user_and_reset_by_an_admin(service):
    service.hub.accounts.create_user(service.admin, "pat", "first-password")
    one = service.hub.accounts.login("pat", "first-password", kind=TokenKind.SESSION)
    two = service.hub.accounts.login("pat", "first-password")
    pat = service.hub.accounts.authenticate(one.token)
    with pytest.raises(PermissionDenied, match="current password is wrong"):
        service.hub.accounts.change_password(pat, "wrong-password", "second-password")
    with pytest.raises(InvalidInput, match="at least 8"):
        service.hub.accounts.change_password(pat, "first-password", "short")
    service.hub.accounts.change_password(pat, "first-password", "second-password")
    assert service.hub.accounts.authenticate(one.token) is not None  # the session it was done from
    with pytest.raises(AuthenticationRequired):
        service.hub.accounts.authenticate(two.token)  # every other token ends
    service.hub.accounts.login("pat", "second-password")

    with pytest.raises(PermissionDenied, match="only an admin"):
        service.hub.accounts.reset_password(pat, "pat")
    new = service.hub.accounts.reset_password(service.admin, "pat")
    with pytest.raises(AuthenticationRequired):
        service.hub.accounts.authenticate(one.token)
    service.hub.accounts.login("pat", new)


def test_what_people_send_is_bounded(service, course, iris):
    """Every new input of the people and team services has a bound, and passing it is a 4xx."""
    with pytest.raises(InvalidInput, match="at most 500"):
        service.hub.invitations.import_roster(course, "course", [{"username": f"u{i}"} for i in range(501)])
    with pytest.raises(InvalidInput, match="at most 1024"):
        service.hub.invitations.signup("longpw", "x" * 1025, code="c" * 20)
    with pytest.raises(InvalidInput, match="not an e-mail"):
        service.hub.invitations.signup("mail", "password-m", code="c" * 20, email="a" * 300 + "@x.org")
    with pytest.raises(NotFound):
        service.hub.invitations.peek("c" * 129)  # codes longer than any we make are not looked up
    service.playground(course, "open-course", iris)
    with pytest.raises(InvalidSpec, match="longer than 64"):
        service.hub.teams.create(course, "open-course", "t" * 65)
    with pytest.raises(InvalidSpec, match="longer than 50,000"):
        service.hub.editing.update(course, "open-course", pages={"rules": "r" * 50_001})
