"""The `aims` command against the session hub: who am I, my tokens, logging out revokes."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.hub


def _aims(*args: str, token: str, hub, tmp_path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIMS_HUB_URL": hub.url, "AIMS_TOKEN": token, "AIMS_CONFIG_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "aims_spaces", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_tokens_are_listed_revoked_and_logout_ends_the_token(hub, users, tmp_path):
    users("cleo")
    login = httpx.post(
        f"{hub.url}/api/login",
        json={"username": "cleo", "password": users.passwords["cleo"], "token_name": "laptop"},
    )
    token = login.json()["token"]
    out = _aims("whoami", token=token, hub=hub, tmp_path=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("cleo on"), out.stderr
    listed = _aims("tokens", token=token, hub=hub, tmp_path=tmp_path)
    assert listed.returncode == 0 and "laptop" in listed.stdout and "(this one)" in listed.stdout
    created = next(line for line in listed.stdout.splitlines() if " created " in f" {line} ")
    revoked = _aims("tokens", "--revoke", created.split()[0], token=token, hub=hub, tmp_path=tmp_path)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert (
        httpx.get(
            f"{hub.url}/api/whoami", headers={"Authorization": f"Bearer {users('cleo').token}"}
        ).status_code
        == 401
    )
    out = _aims("logout", token=token, hub=hub, tmp_path=tmp_path)
    assert out.returncode == 0 and "revoked" in out.stdout
    assert httpx.get(f"{hub.url}/api/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    again = _aims("whoami", token=token, hub=hub, tmp_path=tmp_path)
    assert again.returncode == 1 and "not valid" in again.stderr
