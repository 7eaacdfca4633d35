"""Starting and stopping a hub leaves nothing behind: no process, no port, no world-readable
file; a hub killed outright starts again cleanly; two hubs run side by side when only their two
main ports differ. Real hubs (uvicorn, Ray, Serve, HAProxy) in subprocesses."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from sklearn.linear_model import LogisticRegression

from aims_spaces import ModelPlayground
from aims_spaces.client import HubClient
from aims_spaces.hub.testing import HubProcess, free_port

pytestmark = [pytest.mark.hub, pytest.mark.slow]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _mentioning(*paths: Path | str) -> list[psutil.Process]:
    """Processes whose command line names one of ``paths`` (HAProxy names its configuration)."""
    found = []
    needles = [str(p) for p in paths if p]
    for proc in psutil.process_iter(["cmdline"]):
        try:
            line = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if any(n in line for n in needles):
            found.append(proc)
    return found


def _ports_of(hub: HubProcess) -> list[int]:
    run = json.loads((hub.home / "run.json").read_text())
    return [hub.port, hub.serve_port, run["stats"], run["metrics"]]


def _wait_free(ports: list[int], timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    busy = ports
    while time.monotonic() < deadline:
        busy = [p for p in ports if _listening(p)]
        if not busy:
            return []
        time.sleep(0.3)
    return busy


def test_stop_start_rounds_and_a_kill_leave_no_process_or_port_behind(tmp_path):
    """Four rounds of start and stop, then a hub killed outright (SIGKILL to the hub alone: no
    clean-up code runs) that starts again cleanly on the same ports."""
    port, serve_port = free_port(), free_port()
    hub = HubProcess(tmp_path / "home", port=port, serve_port=serve_port)
    for round_ in range(4):
        hub.start()
        ports = _ports_of(hub)
        serve_dir = json.loads((hub.home / "run.json").read_text())["serve_dir"]
        assert all(_listening(p) for p in ports), (round_, ports)
        survivors = hub.terminate()
        assert survivors == [], f"round {round_}: {[p.cmdline()[:3] for p in survivors]}"
        assert _mentioning(serve_dir) == [], f"round {round_}: HAProxy left running"
        assert _wait_free(ports) == [], f"round {round_}: ports still taken"
        assert not (hub.home / "run.json").exists()
    # What the hub keeps is its user's alone.
    assert stat.S_IMODE(hub.home.stat().st_mode) == 0o700
    for name in ("registry.db", "admin_credentials.json", "ray_token"):
        assert stat.S_IMODE((hub.home / name).stat().st_mode) & 0o077 == 0, name

    hub.start()
    old_dir = json.loads((hub.home / "run.json").read_text())["serve_dir"]
    left = hub.kill_hub_only()
    second = HubProcess(tmp_path / "home", port=port, serve_port=serve_port)
    try:
        second.start()
        assert httpx.get(f"{second.url}/api/health").json()["status"] == "ok"
        assert httpx.post(f"{second.serve_url}/nothing/predict", json={}).status_code == 404
        new_dir = json.loads((second.home / "run.json").read_text())["serve_dir"]
        if new_dir != old_dir:
            assert not Path(old_dir).exists()
        # Nothing of the killed run's Ray or HAProxy is still running a minute later.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(p.is_running() for p in left):
            time.sleep(1)
        alive = [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [p.cmdline()[:3] for p in alive]
    finally:
        second.stop()
        for p in left:
            try:
                p.kill()
            except psutil.Error:
                pass


def _gcs_address(hub: HubProcess) -> str:
    """The hub's Ray cluster address, as its raylet was told it."""
    for proc in hub.descendants():
        for arg in proc.cmdline():
            if arg.startswith("--gcs-address="):
                return arg.split("=", 1)[1]
    raise AssertionError("no raylet among the hub's processes")


# A program of another local user, without the hub's Ray token, tries to join its cluster.
JOIN_WITHOUT_TOKEN = """
import sys, ray
try:
    ray.init(address=sys.argv[1], logging_level="ERROR")
except Exception as e:
    print("refused:", type(e).__name__, str(e)[:300])
    raise SystemExit(3)
print("joined", ray.cluster_resources())
"""


def test_two_hubs_run_side_by_side_with_default_ports(hub, tmp_path, iris, request):
    a = hub  # the session's hub: only AIMS_PORT and AIMS_SERVE_PORT set, as for this one
    b = HubProcess(tmp_path / "b", default_ports=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # reach a loopback-only cluster
    intruder = subprocess.Popen(
        [sys.executable, "-c", JOIN_WITHOUT_TOKEN, _gcs_address(a)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        b.start()
        try:
            assert set(_ports_of(a)).isdisjoint(_ports_of(b))
            client = HubClient(a.url, token=a.admin_token)
            pg = ModelPlayground(
                input_type="tabular", task_type="classification", name="only-on-a", client=client
            )
            pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
            request.addfinalizer(pg.delete)  # the session's hub serves other tests' models after
            model = LogisticRegression(max_iter=500).fit(iris["X_train"], iris["y_train"])
            pg.deploy_model(pg.submit_model(model=model).wait().version)
            rows = {"rows": iris["X_test"].head(3).to_dict("records")}
            answer = httpx.post(f"{a.serve_url}/only-on-a/predict", json=rows, timeout=30)
            assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3
            # Hub B's endpoint answers for hub B only, every time (no shared port between them).
            for _ in range(20):
                assert (
                    httpx.post(f"{b.serve_url}/only-on-a/predict", json=rows, timeout=30).status_code == 404
                )
            # HAProxy's stats and metrics listen on loopback only.
            for port in _ports_of(a)[2:]:
                assert any(
                    c.laddr.port == port and c.laddr.ip == "127.0.0.1"
                    for c in psutil.net_connections("tcp")
                    if c.status == psutil.CONN_LISTEN
                )
            out, _ = intruder.communicate(timeout=120)
            assert intruder.returncode == 3 and "joined" not in out, out[-2000:]
            assert "token is missing or incorrect" in out, out[-2000:]
        finally:
            b.stop()
    finally:
        if intruder.poll() is None:
            intruder.kill()


def test_a_first_start_killed_while_seeding_comes_back_with_all_six_demos(tmp_path):
    """Demo seeding is resumable: a hub killed (Ray and all) after its first demo comes back,
    rebuilds the demo it was making and makes the rest, with scored and deployed models."""
    from aims_spaces.client.http import HubClient

    port, serve_port = free_port(), free_port()
    env = {"AIMS_SEED_DEMOS": "true"}
    first = HubProcess(tmp_path / "home", port=port, serve_port=serve_port, env=env)
    first.start()
    record = first.home / "demos.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if record.exists() and json.loads(record.read_text())["done"]:
            break
        time.sleep(0.2)
    first.crash()  # a power cut in the middle of the second demo
    assert 1 <= len(json.loads(record.read_text())["done"]) < 6

    second = HubProcess(tmp_path / "home", port=port, serve_port=serve_port, env=env)
    try:
        second.start()
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline and len(json.loads(record.read_text())["done"]) < 6:
            time.sleep(1)
        assert sorted(json.loads(record.read_text())["done"]) == sorted(
            ["iris", "diabetes", "reviews", "digits", "tones", "motion"]
        ), second.log()[-3000:]
        admin = HubClient(second.url, token=second.admin_token)
        names = sorted(p["name"] for p in admin.request("GET", "/api/playgrounds"))
        assert names == ["diabetes", "digits", "iris", "motion", "reviews", "tones"]
        for name in names:
            subs = admin.request("GET", f"/api/playgrounds/{name}/submissions")
            assert subs and all(s["status"] == "scored" for s in subs), name
            assert admin.request("GET", f"/api/playgrounds/{name}/deployment")["version"] == 1, name
        # The hub's own seeding token is gone again.
        assert all(t["name"] != "demo playgrounds" for t in admin.request("GET", "/api/tokens"))
    finally:
        second.stop()
