"""Throwaway hubs in subprocesses, for tests and benchmarks (uvicorn + local Ray, as `make run`),
and a Ray cluster of several nodes on this machine for a hub to join.

    with HubProcess(tmp_path / "home").start() as hub:
        client = HubClient(hub.url, token=hub.admin_token)

Needs ``psutil`` (the ``dev`` extra) to find and stop the processes Ray starts.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]  # so `python app.py` resolves in a source checkout


def free_port() -> int:
    """A free port outside the ephemeral range (see :func:`aims_spaces.hub.runtime.free_port`)."""
    from .runtime import free_port as pick

    return pick()


class HubProcess:
    """A hub running in its own process group, so a test can crash it like a power cut."""

    def __init__(
        self,
        home: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        serve_port: int | None = None,
        default_ports: bool = False,
    ) -> None:
        self.home = Path(home)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.serve_port = serve_port or free_port()
        self.serve_url = f"http://127.0.0.1:{self.serve_port}"
        # With default_ports the hub picks HAProxy's stats and metrics ports itself, as it does
        # for anyone who sets only AIMS_PORT and AIMS_SERVE_PORT.
        self.default_ports = default_ports
        self.serve_stats_port = None if default_ports else free_port()
        self.serve_metrics_port = None if default_ports else free_port()
        self.extra_env = env or {}
        self.command = command or [sys.executable, "-m", "aims_spaces", "serve"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.home.parent / f"{self.home.name}-hub.log"

    def start(self, timeout: float = 420) -> HubProcess:
        env = dict(os.environ)
        env.update(
            AIMS_HOME=str(self.home),
            AIMS_PORT=str(self.port),
            AIMS_HOST="127.0.0.1",
            AIMS_SEED_DEMOS="false",
            AIMS_RAY_NUM_CPUS="2",
            AIMS_SERVE_PORT=str(self.serve_port),
            PYTHONUNBUFFERED="1",
        )
        if not self.default_ports:
            env.update(
                AIMS_SERVE_STATS_PORT=str(self.serve_stats_port),
                AIMS_SERVE_METRICS_PORT=str(self.serve_metrics_port),
            )
        else:
            for key in ("AIMS_SERVE_STATS_PORT", "AIMS_SERVE_METRICS_PORT"):
                env.pop(key, None)
        env.pop("AIMS_TOKEN", None)
        env.update(self.extra_env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}; log:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"hub did not start within {timeout} s; log:\n{self.log()}")

    def __enter__(self) -> HubProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    @property
    def admin_token(self) -> str:
        return json.loads((self.home / "admin_credentials.json").read_text())["token"]

    def ray_address(self) -> str:
        """The address of the hub's local Ray cluster (as its raylet was told it)."""
        for proc in self.descendants():
            try:
                args = proc.cmdline()
            except psutil.Error:
                continue
            for arg in args:
                if arg.startswith("--gcs-address="):
                    return arg.split("=", 1)[1]
        raise RuntimeError("the hub runs no local Ray")

    def ray_environment(self) -> dict[str, str]:
        """What a program must set before importing Ray to join the hub's local cluster (its
        token and loopback mode): for benchmarks that deploy beside the hub."""
        return {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.home / "ray_token"),
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        }

    def descendants(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def crash(self) -> None:
        """SIGKILL the hub and every process it started (Ray included): a power cut."""
        assert self.proc is not None
        victims = [psutil.Process(self.proc.pid), *self.descendants()]
        for p in victims:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(victims, timeout=30)
        self.proc.wait(timeout=30)
        self.proc = None

    def terminate(self, timeout: float = 60) -> list[psutil.Process]:
        """Stop the hub as an operator does (SIGTERM to the hub's process alone) and return the
        processes it had started that are still alive a few seconds after it exited."""
        assert self.proc is not None
        kids = self.descendants()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        self.proc = None
        _, alive = psutil.wait_procs(kids, timeout=10)
        return alive

    def kill_hub_only(self) -> list[psutil.Process]:
        """SIGKILL the hub's own process (not what it started): a crash of the hub. Returns the
        processes it had started."""
        assert self.proc is not None
        kids = self.descendants()
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc = None
        return kids

    def stop(self) -> None:
        if self.proc is None:
            return
        kids = self.descendants()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        # Ray's own processes may outlive the hub; never leave them behind.
        for p in kids:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(kids, timeout=20)
        self.proc = None


def copy_scored_submission(home: Path, playground: str, description: str, total: int, seed: int = 0) -> None:
    """Fill a playground's board up to ``total`` versions with copies of its scored submission
    named ``description``, each with another accuracy, written straight into the registry (a
    board only reads them). For tests and benchmarks of big boards; the hub need not be stopped
    (SQLite in WAL mode takes the writes beside it)."""
    import random
    from datetime import timedelta

    from sqlalchemy import select

    from .registry import PlaygroundRow, Registry, SubmissionRow

    registry = Registry(f"sqlite:///{home / 'registry.db'}")
    rng = random.Random(seed)
    skip = {"id", "version", "description", "scores", "intervals", "created_at", "scored_at"}
    try:
        with registry.session() as s:
            first = s.scalar(
                select(SubmissionRow)
                .join(PlaygroundRow, PlaygroundRow.id == SubmissionRow.playground_id)
                .where(PlaygroundRow.name == playground, SubmissionRow.description == description)
            )
            if first is None or first.scored_at is None:
                raise ValueError(f"{playground!r} has no scored submission described {description!r}")
            fields = {
                c.name: getattr(first, c.key) for c in SubmissionRow.__table__.columns if c.name not in skip
            }
            fields.pop("scored_predictions_sha256")
            stem = description.rsplit(" ", 1)[0]
            for version in range(first.version + 1, total + 1):
                acc = round(rng.uniform(0.6, 1.0), 4)
                s.add(
                    SubmissionRow(
                        **fields,
                        version=version,
                        description=f"{stem} {version}",
                        scores={split: {**values, "accuracy": acc} for split, values in first.scores.items()},
                        intervals={k: [acc - 0.05, min(acc + 0.05, 1.0)] for k in first.intervals},
                        created_at=first.created_at + timedelta(seconds=version),
                        scored_at=first.scored_at + timedelta(seconds=version),
                    )
                )
            s.get(PlaygroundRow, first.playground_id).next_version = total + 1
    finally:
        registry.dispose()


def postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: on PATH, or Debian's versioned folder."""
    import shutil

    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


class PostgresServer:
    """A throwaway PostgreSQL cluster in ``folder`` on a free loopback port, for tests and
    benchmarks. PostgreSQL refuses to run as root, so as root the cluster runs as the
    ``postgres`` system user (Debian's package makes it).

        with PostgresServer(tmp_path / "pg") as pg:
            url = pg.create_database("aims")
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.data = self.folder / "data"
        self.port = free_port()
        self.bin = postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL's server is not installed (apt-get install postgresql)")
        self.user = "postgres" if os.geteuid() == 0 else None
        self._databases = 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert self.bin is not None
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.user:
            import pwd

            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
            # runuser keeps the caller's working directory; one the user cannot enter stops initdb
            os.chmod(self.folder, 0o700)
        try:
            self._run("initdb", "-D", str(self.data), "-U", "aims", "--auth=trust", "-E", "UTF8", "--no-sync")
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                "-c shared_buffers=64MB"
            )
            log = str(self.folder / "log")
            self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        except subprocess.CalledProcessError as e:
            raise RuntimeError(f"PostgreSQL did not start: {e.stderr or e.stdout}") from None
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://aims@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; returns its SQLAlchemy URL."""
        import psycopg

        self._databases += 1
        name = name or f"test_{self._databases}"
        dsn = f"host=127.0.0.1 port={self.port} user=aims dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Runs a command in a mount namespace of its own, where what it mounts nobody else sees.
_OWN_MOUNTS = ["unshare", "--mount", "--propagation", "private", "--"]


@dataclass
class RayNode:
    """One node of a :class:`RayCluster`: a ``ray start --block`` in a process group of its own."""

    name: str
    temp_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes]

    def processes(self) -> list[psutil.Process]:
        """The node's processes: ``ray start`` and everything it started (the raylet, its agents
        and workers; on the head also the GCS)."""
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


class RayCluster:
    """A Ray cluster of a head and worker nodes on this machine, for a hub to join with
    ``AIMS_RAY_ADDRESS``; each node has a temp folder and a process group of its own, so a test
    can kill one outright.

        cluster = RayCluster()
        cluster.start_head()
        cluster.start_node("w1", num_cpus=1, resources={"worker": 4})
        hub = HubProcess(home, env={"AIMS_RAY_ADDRESS": cluster.address, **cluster.environment()})
        ...
        cluster.stop()

    The nodes require a token (a file in the cluster's folder, mode 0600), as the hub's own
    local Ray does. They listen on the machine's address: Ray keeps to loopback only in its
    one-machine mode, which refuses worker nodes. A worker node can be started with folders
    hidden from its processes (an empty tmpfs over each, in a mount namespace of the node's own;
    needs root, see :meth:`can_hide_folders`): hiding the hub's ``AIMS_HOME`` shows that the
    node gets everything through the storage URLs, as a node on another machine would.
    """

    def __init__(self) -> None:
        # Short: Ray's socket paths live under it and a socket path may hold 107 characters.
        self.folder = Path(tempfile.mkdtemp(prefix="aims-cluster-", dir="/tmp"))
        self.token_path = self.folder / "ray_token"
        fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        self.port = free_port()
        self.address = ""  # the head's, once it runs
        self.nodes: dict[str, RayNode] = {}
        self._ray = str(Path(sys.executable).parent / "ray")

    def environment(self) -> dict[str, str]:
        """What a program must set before importing Ray to join the cluster: its token."""
        return {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.token_path),
            "RAY_USAGE_STATS_ENABLED": "0",
        }

    @staticmethod
    def can_hide_folders() -> bool:
        """Whether this user may start a node in a mount namespace of its own (root may)."""
        with tempfile.TemporaryDirectory(prefix="aims-probe-") as probe:
            command = [*_OWN_MOUNTS, "mount", "-t", "tmpfs", "-o", "size=64k", "aims-hidden", probe]
            try:
                return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                return False

    def start_head(self, *, num_cpus: int = 0, timeout: float = 120) -> RayNode:
        """The head node (the GCS, Serve's controller); with no CPUs, no task or replica asking
        for some lands there."""
        args = [
            "--head",
            f"--port={self.port}",
            f"--ray-client-server-port={free_port()}",
            f"--dashboard-port={free_port()}",
            "--include-dashboard=false",
        ]
        node = self._start("head", args, num_cpus=num_cpus, resources={})
        self.wait_started(timeout)
        # A driver finds its node by the address it reaches the head at: the one the head chose.
        for p in node.processes():
            for arg in p.cmdline():
                if arg.startswith("--node_ip_address="):
                    self.address = f"{arg.split('=', 1)[1]}:{self.port}"
        if not self.address:
            raise RuntimeError("the head node runs no raylet")
        return node

    def start_node(
        self,
        name: str,
        *,
        num_cpus: int,
        resources: dict[str, float],
        hide: Iterable[Path] = (),
    ) -> RayNode:
        """Start a worker node joining the head; :meth:`wait_started` waits for it. ``hide``:
        folders its processes see as empty (each must exist)."""
        # Serve runs a proxy on every node with a replica. On one machine these would share the
        # head's port (Serve binds it with SO_REUSEPORT) and answer its requests; on a machine of
        # its own a node has a port space of its own, so here it gets a port of its own.
        env = {"RAY_SERVE_WORKER_PROXY_HTTP_PORT": str(free_port())}
        return self._start(
            name, [f"--address={self.address}"], num_cpus=num_cpus, resources=resources, hide=hide, env=env
        )

    def _start(
        self,
        name: str,
        args: list[str],
        *,
        num_cpus: int,
        resources: dict[str, float],
        hide: Iterable[Path] = (),
        env: dict[str, str] | None = None,
    ) -> RayNode:
        temp_dir = self.folder / name
        command = [
            self._ray,
            "start",
            "--block",
            *args,
            f"--num-cpus={num_cpus}",
            f"--resources={json.dumps(resources)}",
            f"--temp-dir={temp_dir}",
            f"--dashboard-agent-listen-port={free_port()}",
            "--object-store-memory=200000000",
            "--disable-usage-stats",
            "--log-color=false",
        ]
        mounts = [f"mount -t tmpfs -o size=64k,mode=0700 aims-hidden {shlex.quote(str(p))}" for p in hide]
        if mounts:
            script = " && ".join([*mounts, 'exec "$@"'])
            command = [*_OWN_MOUNTS, "sh", "-c", script, "sh", *command]
        full_env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
        full_env.update(self.environment(), **(env or {}))
        log_path = self.folder / f"{name}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                command, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        node = RayNode(name, temp_dir, log_path, proc)
        self.nodes[name] = node
        return node

    def wait_started(self, timeout: float = 120) -> None:
        """Wait until every node started has registered with the head (``ray start`` says so
        once the GCS knows the node)."""
        deadline = time.monotonic() + timeout
        for node in self.nodes.values():
            while "Ray runtime started." not in node.log_path.read_text(errors="replace"):
                if node.proc.poll() is not None or time.monotonic() > deadline:
                    log = node.log_path.read_text(errors="replace")[-4000:]
                    raise RuntimeError(f"Ray node {node.name} did not start; its log:\n{log}")
                time.sleep(0.2)

    def ran_on(self, pid: int) -> str | None:
        """The node whose Ray worker had process id ``pid``, even after the worker or its node is
        gone: Ray names each worker's log after its process id (``python-core-worker-<worker
        id>_<pid>.log``, a Ray internal) in the node's own session folder."""
        for node in self.nodes.values():
            if any(node.temp_dir.glob(f"session_*/logs/python-core-worker-*_{pid}.log")):
                return node.name
        return None

    def find(self, title: str) -> dict[int, str]:
        """Live processes whose command line (a Ray worker's is its title, ``ray::<task or
        actor>``) contains ``title``, and the node each belongs to."""
        found = {}
        for node in self.nodes.values():
            for p in node.processes():
                try:
                    if title in " ".join(p.cmdline()):
                        found[p.pid] = node.name
                except psutil.Error:
                    continue
        return found

    def kill(self, name: str) -> None:
        """SIGKILL every process of node ``name`` at once: the machine lost its power."""
        node = self.nodes[name]
        victims = node.processes()
        try:
            os.killpg(node.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _kill(victims)  # any that left the node's process group
        node.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL what is left after 5 s: the head's autoscaler
        monitor was seen to outlive SIGTERM) and remove the cluster's folder."""
        from .runtime import processes_using

        processes = [p for node in self.nodes.values() for p in node.processes()]
        for node in self.nodes.values():
            try:
                os.killpg(node.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        _, alive = psutil.wait_procs(processes, timeout=5)
        _kill(alive)
        for node in self.nodes.values():
            node.proc.wait(timeout=15)
        # Anything that left its node's process tree still names the cluster's folder.
        leftovers = []
        for pid in processes_using(self.folder):
            try:
                leftovers.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                continue
        _kill(leftovers)
        shutil.rmtree(self.folder, ignore_errors=True)


def _kill(processes: list[psutil.Process]) -> None:
    """SIGKILL ``processes`` and wait for them to go."""
    for p in processes:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=30)
