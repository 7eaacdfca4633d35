"""What a person starting the hub reads: one line when a start cannot finish, a log file without
colour codes or Serve's start-up chatter."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import httpx
import pytest

from aims_spaces.errors import DeploymentFailed
from aims_spaces.hub.server import HomeInUse, PortInUse, lock_home, start_failure
from aims_spaces.hub.settings import Settings
from aims_spaces.hub.testing import HubProcess, free_port

pytestmark = pytest.mark.hub


def test_a_start_on_a_taken_port_says_so_in_one_line_and_starts_nothing(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        proc = HubProcess(tmp_path / "home", port=port, command=[sys.executable, "app.py"])
        with pytest.raises(RuntimeError, match="hub exited with 1"):
            proc.start(timeout=120)
        lines = [line for line in proc.log().splitlines() if line.strip()]
        assert lines[-1] == (
            f"aims_spaces could not start: port {port} is in use: stop what uses it, or choose "
            f"another port with AIMS_PORT (details: {tmp_path / 'home' / 'start-error.log'})"
        )
        assert not any("Traceback" in line for line in lines)
        assert "PortInUse" in (tmp_path / "home" / "start-error.log").read_text()
        assert not (tmp_path / "home" / "run.json").exists()  # nothing left running


def test_a_second_hub_on_a_running_hubs_home_is_refused_and_the_first_runs_on(hub: HubProcess) -> None:
    """Before anything else: it would have cleaned up the first's files in flight and stopped its
    Ray and HAProxy as leftovers of a killed run."""
    second = HubProcess(hub.home, command=[sys.executable, "app.py"])
    second.log_path = hub.home.parent / "second-hub.log"
    with pytest.raises(RuntimeError, match="hub exited with 1"):
        second.start(timeout=120)
    last = [line for line in second.log().splitlines() if line.strip()][-1]
    assert f"another hub (process {hub.proc.pid}) runs on AIMS_HOME {hub.home}" in last
    assert "stop it first, or give this one another AIMS_HOME" in last
    assert httpx.get(f"{hub.url}/api/health").json()["status"] == "ok"


def test_the_home_lock_is_one_holders_and_goes_with_it(tmp_path: Path) -> None:
    fd = lock_home(tmp_path / "home")
    with pytest.raises(HomeInUse, match=rf"process {os.getpid()}\) runs on AIMS_HOME"):
        lock_home(tmp_path / "home")
    os.close(fd)
    os.close(lock_home(tmp_path / "home"))  # free again


def test_only_the_homes_holder_cleans_up_what_looks_half_written(tmp_path: Path) -> None:
    """A tool or a single-playground app opening a running hub's home leaves the hub's writes in
    flight alone; the hub's own start (which holds the home) removes a crash's leftovers."""
    from aims_spaces.hub import Hub

    settings = Settings(home=tmp_path / "home")
    first = Hub.open(settings)
    evaldata_root = Path(first.evaldata.root)
    first.close()
    uploading = settings.home / "artifacts" / "tmp" / "uploading"
    uploading.parent.mkdir(parents=True, exist_ok=True)
    uploading.write_bytes(b"half a model")
    saving = evaldata_root / ("0" * 32) / "labels.parquet"  # an id whose manifest is yet to come
    saving.parent.mkdir(parents=True)
    saving.write_bytes(b"labels")
    record = settings.home / ".tmp-0123-admin_credentials.json"  # a record's write cut short
    record.write_bytes(b'{"password": ')
    beside = Hub.open(settings)
    beside.close()
    assert uploading.exists() and saving.exists() and record.exists()
    fd = lock_home(settings.home)  # as the server's start does, then opens and cleans up
    try:
        hub = Hub.open(settings)
        hub.clean_up_after_crash()
        hub.close()
    finally:
        os.close(fd)
    assert not uploading.exists() and not saving.parent.exists() and not record.exists()


def test_each_failure_names_what_to_do() -> None:
    assert "AIMS_SERVE_PORT" in start_failure(PortInUse(8000, "AIMS_SERVE_PORT"))
    slow = start_failure(DeploymentFailed("the model server (Ray Serve) did not become ready within 300 s"))
    assert slow.startswith("the model server (Ray Serve) did not become ready within 300 s: ")
    assert "AIMS_SERVE_START_TIMEOUT_S" in slow and "start again" in slow
    from sqlalchemy.exc import OperationalError

    assert "AIMS_DATABASE_URL" in start_failure(OperationalError("connect", {}, Exception("refused")))
    assert "start again" in start_failure(RuntimeError("boom"))
    assert Settings(serve_start_timeout_s=600).serve_start_timeout_s == 600


def test_the_log_file_has_no_colour_codes_nor_serves_start_up_chatter(hub: HubProcess) -> None:
    text = hub.log_path.read_text(errors="replace")
    assert "aims_spaces hub running at" in text
    assert "\x1b[" not in text
    for chatter in ("will not be applied", "Throughput optimized Ray Serve", "Started Serve in namespace"):
        assert chatter not in text, chatter


def test_on_a_space_with_persistent_storage_the_home_is_kept_there(tmp_path, monkeypatch) -> None:
    from aims_spaces.hub import settings as settings_module

    storage = tmp_path / "data"
    storage.mkdir()
    monkeypatch.setattr(settings_module, "SPACE_STORAGE", storage)
    monkeypatch.delenv("AIMS_HOME", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert Settings().home == Path.home() / ".aims_spaces"  # not a Space
    monkeypatch.setenv("SPACE_ID", "teacher/iris-class")
    assert Settings().home == storage / "aims_spaces"
    monkeypatch.setenv("AIMS_HOME", str(tmp_path / "chosen"))
    assert Settings().home == tmp_path / "chosen"  # an explicit setting wins
    storage.rmdir()
    monkeypatch.delenv("AIMS_HOME")
    assert Settings().home == Path.home() / ".aims_spaces"  # no persistent storage attached


def test_free_ports_are_never_handed_out_twice_in_a_process() -> None:
    """A port picked for a hub is bound only later (by Ray, HAProxy or the hub): until then it
    is still free, and a second pick must not return it."""
    from aims_spaces.hub import runtime

    picks = [free_port() for _ in range(300)]
    assert len(set(picks)) == len(picks)
    low, high = runtime._ephemeral_range()
    assert all(not low <= p <= high for p in picks)
