"""Run a hub: the service layer, local (or remote) Ray with the evaluators, and the HTTP server.

This is the wiring: the only module of :mod:`aims_spaces.hub` that imports Ray, the evaluators,
the serving package or the web apps (CI checks it), and only inside functions, so the service
layer stays free of them.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from ..errors import DeploymentFailed
from . import runtime
from .service import Hub
from .settings import Settings
from .storage import write_file

log = logging.getLogger(__name__)


def web_environment(settings: Settings) -> None:
    """Gradio reads these at import: no analytics calls, uploads under AIMS_HOME."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_TEMP_DIR", str(settings.home / "gradio"))


def start_ray(settings: Settings, temp_dir: str | None = None) -> str | None:
    """Join or start Ray (a local one in ``temp_dir``); returns the session folder of a locally
    started one."""
    import ray

    if ray.is_initialized():
        return None
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "configure_logging": True,
    }
    if settings.ray_address:
        ray.init(address=settings.ray_address, **kwargs)
    else:
        # "local": always a new cluster of our own, never one that RAY_ADDRESS or a `ray start`
        # on this machine points at.
        if temp_dir:
            kwargs["_temp_dir"] = temp_dir
        context = ray.init(address="local", num_cpus=settings.ray_num_cpus or os.cpu_count() or 2, **kwargs)
        _quiet_ray_noise()
        return str(context.address_info.get("session_dir") or "") or None
    _quiet_ray_noise()
    return None


# Lines Ray's processes print at every start that tell a user nothing they can act on.
_NOISE = re.compile(r"Throughput optimized Ray Serve enabled|^\s*•\s|^\s*$")


def _quiet_ray_noise() -> None:
    """Drop Serve's start-up banner from the worker output Ray relays to this process, and its
    driver-side INFO lines ("Started Serve", "New http_options ... will not be applied": the hub
    starts Serve and then deploys, so Serve always says so); warnings and errors still show."""
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    try:  # Ray's relay of worker output is internal; without it only the banner shows again
        from ray._private import worker

        dispatcher = worker.global_worker_stdstream_dispatcher
        relay = dict(dispatcher.handlers)["ray_print_logs"]
    except (AttributeError, ImportError, KeyError, TypeError, ValueError):
        return

    def filtered(data: dict[str, Any]) -> None:
        lines = [line for line in data.get("lines", []) if not _NOISE.search(line)]
        if lines:
            relay({**data, "lines": lines})

    dispatcher.remove_handler("ray_print_logs")
    dispatcher.add_handler("ray_print_logs", filtered)


class HubServer:
    """Owns a running hub: call :meth:`start`, then :meth:`serve` (blocks), then :meth:`stop`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hub: Hub | None = None
        self.queue: Any = None
        self.deployer: Any = None
        self.first_start_token: str | None = None
        self.runtime: runtime.Runtime | None = None
        self._home_lock: int | None = None

    def start(self) -> Hub:
        web_environment(self.settings)
        # Everything the hub and the processes it starts write is for its user alone.
        os.umask(0o077)
        # Before anything else: a second hub on this home would clean up what the running one is
        # writing, and stop its Ray and HAProxy as leftovers of a killed run.
        self._home_lock = lock_home(self.settings.home)
        hub = Hub.open(self.settings)
        self.hub = hub
        hub.clean_up_after_crash()  # only now that this process holds the home
        # Ray reads its configuration when imported: prepare it first.
        self.runtime = runtime.prepare(self.settings)
        check_ports(self.settings)  # after the previous run's leftovers are stopped
        os.environ.update(self.runtime.environment)
        if self.runtime.environment.get("RAY_AUTH_MODE") == "token":
            os.environ.pop("RAY_AUTH_TOKEN", None)  # it would win over our token file
        from evaluators.ray_queue import RayEvaluationQueue
        from serving.deployer import RayServeDeployer

        created = hub.accounts.ensure_admin(
            self.settings.admin_username, self.settings.admin_credentials_path, self.settings.url
        )
        if created:
            log.info("created admin %r; credentials in %s", created.username, created.path)
            self.first_start_token = created.token
        ray_dir = self.runtime.ray_dir
        session = start_ray(self.settings, str(ray_dir) if ray_dir else None)
        if session:
            runtime.record_ray_session(self.settings, session)
        hub.accounts.purge_expired()
        self.queue = RayEvaluationQueue(
            hub.submissions.complete,
            num_cpus=self.settings.evaluator_num_cpus,
            resources=self.settings.evaluator_resources,
            max_retries=self.settings.evaluator_max_retries,
            timeout_s=self.settings.evaluation_timeout_s,
            per_account=self.settings.user_max_running_evaluations,
        )
        self.queue.warm_up(wait=False)  # while Serve starts
        hub.submissions.attach_queue(self.queue)
        hub.submissions.requeue_unfinished()
        self.deployer = RayServeDeployer(self.settings)
        self.deployer.start(hub.deployments.routes())  # restores every deployment
        hub.deployments.attach_deployer(self.deployer)
        return hub

    def serve(self) -> None:
        import uvicorn

        from apps.web import mount_web

        from .api import create_app

        assert self.hub is not None, "call start() first"
        app = create_app(self.hub)
        mount_web(app, self.hub, serve_url=self.settings.serve_url, hub_url=self.settings.url)
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_level="warning",
            timeout_graceful_shutdown=5,
            # X-Forwarded-For only from proxies the operator names (else anyone picks an address).
            proxy_headers=self.settings.forwarded_allow_ips is not None,
            forwarded_allow_ips=self.settings.forwarded_allow_ips or "",
        )
        server = uvicorn.Server(config)
        if self.settings.seed_demos:
            threading.Thread(
                target=self._seed_demos, args=(server,), name="aims-seed-demos", daemon=True
            ).start()
        print(
            f"aims_spaces hub running at {self.settings.url}\n"
            f"  REST API docs: {self.settings.url}/docs\n"
            f"  predictions: {self.settings.serve_url}/<playground>/predict\n"
            f"  admin credentials: {self.settings.admin_credentials_path}\n"
            f"  data: {self.settings.home}",
            flush=True,
        )
        server.run()

    def _seed_demos(self, server: Any) -> None:
        """Create the demo playgrounds not made yet. ``<home>/demos.json`` records the finished
        ones, so a start that dies half-way is resumed at the next (a half-made demo is built
        again) and a demo its owner deleted later stays deleted."""
        from apps.demos import DEMOS, seed_demos_at

        assert self.hub is not None
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.1)
        record = self.settings.home / "demos.json"
        existing = set(self.hub.playgrounds.names())
        if record.exists():
            done = set(json.loads(record.read_text()).get("done", []))
            rebuild = {n for n in DEMOS if n not in done and n in existing}
        elif self.first_start_token:
            done, rebuild = set(), set()
        else:  # a hub from before the record: what exists is done, what is missing is made
            done, rebuild = {n for n in DEMOS if n in existing}, set()
        pending = [n for n in DEMOS if n not in done]
        write_file(record, json.dumps({"done": sorted(done)}).encode())
        if not pending:
            return
        token = self.hub.accounts.service_token(self.settings.admin_username, "demo playgrounds")
        if token is None:
            log.warning("no admin account to create the demo playgrounds with; skipped")
            return

        def ready(name: str) -> None:
            done.add(name)
            write_file(record, json.dumps({"done": sorted(done)}).encode())

        try:
            made = seed_demos_at(
                f"http://127.0.0.1:{self.settings.port}", token, pending, rebuild=rebuild, on_ready=ready
            )
            print(f"demo playgrounds ready: {', '.join(pg.name for pg in made)}", flush=True)
        except Exception as e:  # demos are a convenience; a failure must not take the hub down
            log.exception("could not create the demo playgrounds")
            print(
                f"the demo playgrounds could not all be made ({type(e).__name__}); the next start "
                "makes the missing ones (set AIMS_SEED_DEMOS=false to skip them)",
                flush=True,
            )
        finally:
            self.hub.accounts.revoke_service_token(token)

    def stop(self) -> None:
        if self.queue is not None:
            self.queue.close()
        if self.deployer is not None:
            self.deployer.stop()
        if self.runtime is not None:
            import ray

            if ray.is_initialized():
                ray.shutdown()
            runtime.stop_leftovers(self.runtime)  # an HAProxy that outlived its manager
            (self.settings.home / runtime.RUN_FILE).unlink(missing_ok=True)
        if self.hub is not None:
            self.hub.close()
        if self._home_lock is not None:
            os.close(self._home_lock)  # releases the lock
            self._home_lock = None


class HomeInUse(RuntimeError):
    def __init__(self, home: Path, pid: str) -> None:
        super().__init__(f"another hub (process {pid or '?'}) runs on AIMS_HOME {home}")


HOME_LOCK = "hub.lock"


def lock_home(home: Path) -> int:
    """Take ``<home>/hub.lock`` for this process (an exclusive ``flock``, which the kernel drops
    when the process ends, however it ends); returns its descriptor, to keep open.

    Raises:
        HomeInUse: another process holds it.
    """
    import fcntl

    os.makedirs(home, mode=0o700, exist_ok=True)
    fd = os.open(home / HOME_LOCK, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by children
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        raise HomeInUse(home, holder) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


class PortInUse(OSError):
    def __init__(self, port: int, setting: str) -> None:
        super().__init__(f"port {port} is in use")
        self.port, self.setting = port, setting


def check_ports(settings: Settings) -> None:
    """Fail before starting anything when a port the hub must listen on is taken."""
    wanted = [(settings.port, "AIMS_PORT")]
    if not settings.ray_address:  # else Serve listens on the cluster's head, not here
        wanted.append((settings.serve_port, "AIMS_SERVE_PORT"))
    for port, setting in wanted:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((settings.host if setting == "AIMS_PORT" else settings.serve_host, port))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise PortInUse(port, setting) from e
                raise


def start_failure(e: BaseException) -> str:
    """One line for a start that could not finish: what failed and what to do."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(e, HomeInUse):
        return f"{e}: stop it first, or give this one another AIMS_HOME"
    if isinstance(e, PortInUse):
        return f"{e}: stop what uses it, or choose another port with {e.setting}"
    if isinstance(e, DeploymentFailed):
        return (
            f"{e}: the machine may be too busy; start again (a new start "
            "goes on where this one stopped), or raise AIMS_SERVE_START_TIMEOUT_S"
        )
    if isinstance(e, SQLAlchemyError):
        return f"the database could not be opened ({type(e).__name__}): check AIMS_DATABASE_URL"
    if isinstance(e, PermissionError):
        return f"a file could not be written ({e}): check AIMS_HOME and its permissions"
    return f"{type(e).__name__}: {str(e)[:300]}; start again, and if it fails the same way, see the details"


def run(settings: Settings | None = None) -> None:
    """Start the hub and serve until interrupted. A start that cannot finish prints one line
    (what failed, what to do), keeps the traceback in ``<home>/start-error.log`` and exits 1."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = settings or Settings()
    server = HubServer(settings)
    try:
        server.start()
    except Exception as e:
        details = settings.home / "start-error.log"
        try:
            details.write_text(traceback.format_exc())
        except OSError:
            details = None
        server.stop()
        where = f" (details: {details})" if details else ""
        print(f"aims_spaces could not start: {start_failure(e)}{where}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    try:
        server.serve()
    finally:
        server.stop()
