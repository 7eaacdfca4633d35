"""Accounts on the service layer (no Ray, no web server): tokens expire, are listed and revoked
by their owner, logout revokes, failed logins are rate-limited, bad text is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from aims_spaces.domain import TokenKind
from aims_spaces.errors import AuthenticationRequired, InvalidInput, NotFound, TooManyAttempts
from aims_spaces.hub.accounts import LoginLimiter
from aims_spaces.hub.registry import ApiTokenRow, utcnow


def test_a_token_works_until_it_expires(service):
    password = "correct horse battery"
    service.hub.accounts.create_user(service.admin, "tim", password)
    api = service.hub.accounts.login("tim", password, "laptop")
    web = service.hub.accounts.login("tim", password, "browser", kind=TokenKind.SESSION)
    tim = service.hub.accounts.authenticate(api.token)
    assert tim is not None and tim.username == "tim"
    listed = service.hub.accounts.tokens(service.hub.accounts.authenticate(web.token))
    assert [t.name for t in listed] == ["browser", "laptop", "created"]
    assert [t.kind for t in listed] == [TokenKind.SESSION, TokenKind.API, TokenKind.API]
    assert [t.current for t in listed] == [True, False, False]
    # Web sessions are shorter-lived than API tokens (settings: 168 h and 90 days).
    assert listed[0].expires_at - listed[0].created_at == pytest.approx(
        timedelta(hours=168), abs=timedelta(seconds=5)
    )
    assert listed[1].expires_at - listed[1].created_at == pytest.approx(
        timedelta(days=90), abs=timedelta(seconds=5)
    )
    with service.hub.registry.session() as s:
        s.execute(update(ApiTokenRow).where(ApiTokenRow.name == "laptop").values(expires_at=utcnow()))
    with pytest.raises(AuthenticationRequired, match="expired"):
        service.hub.accounts.authenticate(api.token)
    assert "laptop" not in [
        t.name for t in service.hub.accounts.tokens(service.hub.accounts.authenticate(web.token))
    ]


def test_logout_and_revoke_end_a_token_at_once(service):
    service.hub.accounts.create_user(service.admin, "una", "a long password")
    one = service.hub.accounts.login("una", "a long password")
    two = service.hub.accounts.login("una", "a long password")
    una = service.hub.accounts.authenticate(one.token)
    service.hub.accounts.revoke(una)  # logout: the token of this call
    with pytest.raises(AuthenticationRequired):
        service.hub.accounts.authenticate(one.token)
    una2 = service.hub.accounts.authenticate(two.token)
    other = service.user("vic")
    victims_token = next(t for t in service.hub.accounts.tokens(other))
    with pytest.raises(NotFound, match="no token"):  # nobody revokes someone else's token
        service.hub.accounts.revoke(una2, victims_token.id)
    assert service.hub.accounts.authenticate(two.token) is not None
    for bad in (0, -1, 2**80, True, "1"):
        with pytest.raises(NotFound):
            service.hub.accounts.revoke(una2, bad)
    created = next(t for t in service.hub.accounts.tokens(una2) if t.name == "created")
    service.hub.accounts.revoke(una2, created.id)
    assert [t.name for t in service.hub.accounts.tokens(una2)] == [""]


def test_failed_logins_are_limited_per_user_and_address_per_address_and_per_user():
    limiter = LoginLimiter(per_user=3, per_ip=5, window_s=60)
    for _ in range(3):
        limiter.check("amy", "10.0.0.1")
        limiter.failed("amy", "10.0.0.1")
    with pytest.raises(TooManyAttempts, match="for this account from this address; try again in"):
        limiter.check("AMY", "10.0.0.1")
    limiter.check("amy", "10.0.0.2")  # amy herself, elsewhere, is not locked out by a guesser
    limiter.failed("bob", "10.0.0.1")
    limiter.failed("cat", "10.0.0.1")
    with pytest.raises(TooManyAttempts, match="from this address"):
        limiter.check("dan", "10.0.0.1")  # five failures from one address, whatever the names
    for i in range(30):  # many addresses guessing one account
        limiter.failed("eve", f"10.1.0.{i}")
    with pytest.raises(TooManyAttempts, match="for this account; try again"):
        limiter.check("eve", "10.9.9.9")
    limiter.succeeded("amy", "10.0.0.1")  # her own login clears her lock on that address
    assert ("user-ip", "amy", "10.0.0.1") not in limiter._failures


def test_a_flood_of_names_forgets_the_oldest_not_everything():
    limiter = LoginLimiter(per_user=2, per_ip=10**9, window_s=60)
    limiter.MAX_KEYS = 50
    for _ in range(2):
        limiter.failed("target", "10.0.0.1")
    for i in range(10):
        limiter.failed(f"noise{i}", "10.0.0.2")
    with pytest.raises(TooManyAttempts):
        limiter.check("target", "10.0.0.1")
    assert len(limiter._failures) <= 50


def test_the_login_service_applies_the_limit(service):
    service.hub.accounts.create_user(service.admin, "wes", "the right password")
    service.hub.accounts.limiter = LoginLimiter(per_user=2, per_ip=100, window_s=60)
    for _ in range(2):
        with pytest.raises(AuthenticationRequired, match="wrong username or password"):
            service.hub.accounts.login("wes", "wrong", address="1.2.3.4")
    with pytest.raises(TooManyAttempts):  # even the right password waits now
        service.hub.accounts.login("wes", "the right password", address="1.2.3.4")


@pytest.mark.parametrize(
    ("username", "password"),
    [("x\ud800", "password1"), ("xan", "pass\udfffword"), ("xan", "p" * 2000), ("x" * 500, "password1")],
)
def test_odd_credentials_are_a_failed_login_not_an_error(service, username, password):
    service.hub.accounts.create_user(service.admin, "xan", "password1")
    with pytest.raises(AuthenticationRequired, match="wrong username or password"):
        service.hub.accounts.login(username, password)


@pytest.mark.parametrize("password", ["short", "x\ud800yyyyyyyy", "p" * 1025])
def test_new_passwords_are_checked(service, password):
    with pytest.raises(InvalidInput, match="password"):
        service.hub.accounts.create_user(service.admin, "yolanda", password)


def test_a_login_token_label_is_plain_text(service):
    service.hub.accounts.create_user(service.admin, "zed", "password1")
    with pytest.raises(InvalidInput, match="control characters"):
        service.hub.accounts.login("zed", "password1", "evil\nlabel")
