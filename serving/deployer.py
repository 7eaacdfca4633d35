"""What the hub drives: start Ray Serve with the prediction app, and stage, activate and remove
routes through the shared serving state."""

from __future__ import annotations

import logging
import time
from typing import Any

import ray

try:  # Ray's name for the resource only the head node has (internal; stable since 2.10)
    from ray._common.constants import HEAD_NODE_RESOURCE_NAME
except ImportError:
    HEAD_NODE_RESOURCE_NAME = "node:__internal_head__"
from ray.exceptions import RayActorError

from aims_spaces.domain import Route
from aims_spaces.errors import DeploymentFailed, InvalidModel
from aims_spaces.hub.settings import Settings

from .app import ServeConfig, build_app
from .state import ServingState

log = logging.getLogger(__name__)

NAMESPACE = "aims_spaces"
APP_NAME = "aims-predictions"
START_ATTEMPTS = 3


class RayServeDeployer:
    """Implements the service layer's ``Deployer`` with Ray Serve."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.predict_base_url = settings.serve_url
        self._state_name = f"aims-serving-state-{settings.serve_port}"
        self.state: Any = None

    def start(self, routes: list[Route]) -> None:
        from ray import serve

        # On the head node, as Serve's controller is (and with the same internal resource): the
        # replicas look the state up when they start, and one left on a worker node would die
        # with that node, leaving every replica without routes.
        self.state = (
            ray.remote(ServingState)
            .options(
                name=self._state_name,
                namespace=NAMESPACE,
                num_cpus=0,
                resources={HEAD_NODE_RESOURCE_NAME: 0.001},
                get_if_exists=True,
            )
            .remote()
        )
        ray.get(self.state.set_routes.remote(routes))
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                serve.start(
                    http_options={"host": self.settings.serve_host, "port": self.settings.serve_port},
                    logging_config={"enable_access_log": False},
                )
                break
            except (RayActorError, TimeoutError) as e:
                # On a busy machine Serve's controller can give up on a proxy that was slow to
                # answer its first ready checks; a second start finds the controller and goes on.
                if attempt == START_ATTEMPTS:
                    raise
                log.warning(
                    "Serve did not start (%s); trying again (%d of %d)", e, attempt + 1, START_ATTEMPTS
                )
                time.sleep(2.0 * attempt)
        s = self.settings
        config = ServeConfig(
            database_url=s.resolved_database_url,
            artifact_url=s.resolved_artifact_url,
            state_actor=self._state_name,
            namespace=NAMESPACE,
            model_cache_size=s.model_cache_size,
            batch_max_size=s.batch_max_size,
            batch_wait_s=s.batch_wait_ms / 1000,
            replicas=s.serve_replicas,
            max_replicas=s.serve_max_replicas,
            replica_cpus=s.serve_replica_cpus,
            replica_resources=s.serve_replica_resources,
            max_ongoing_requests=s.serve_max_ongoing_requests,
            model_load_timeout_s=s.model_load_timeout_s,
            predict_timeout_s=s.predict_timeout_s,
            max_body_bytes=s.max_predict_bytes,
            decode_limits=s.decode_limits.model_dump(mode="json"),
        )
        deadline = time.monotonic() + s.serve_start_timeout_s
        try:
            serve.run(build_app(config), name=APP_NAME, route_prefix="/")
        except TimeoutError:
            # serve.run gives its proxies a fixed 60 s to report the app's replicas up. A first
            # start on a cold, busy machine (every worker compiling its imports) can need more:
            # the deployment is under way, so keep waiting up to our own limit.
            log.info("the model server is still starting; waiting up to %.0f s", s.serve_start_timeout_s)
            self._wait_serving(deadline)
        log.info("predictions served at %s/<playground>/predict", self.predict_base_url)

    def _wait_serving(self, deadline: float) -> None:
        from ray.serve.context import _get_global_client

        client = _get_global_client()
        while True:
            try:
                client.wait_for_proxies_serving()
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise DeploymentFailed(
                        f"the model server (Ray Serve) did not become ready within "
                        f"{self.settings.serve_start_timeout_s:.0f} s"
                    ) from None

    def predict_url(self, playground: str) -> str:
        return f"{self.predict_base_url}/{playground}/predict"

    def set_routes(self, routes: list[Route]) -> None:
        self._wait_applied(ray.get(self.state.set_routes.remote(routes)))

    def stage(self, route: Route, timeout_s: float | None = None) -> None:
        """Have every live replica load and warm the route's model; raise if one cannot. By
        default waits longer than a replica's own load limit, so the replica's verdict arrives."""
        if timeout_s is None:
            timeout_s = max(120.0, self.settings.model_load_timeout_s + 30)
        ray.get(self.state.stage.remote(route))
        deadline = time.monotonic() + timeout_s
        while True:
            ready = ray.get(self.state.readiness.remote(route.model_key))
            if ready["error"]:
                ray.get(self.state.unstage.remote(route.playground))
                raise InvalidModel(
                    f"the model server could not load version {route.version}: {ready['error']}"
                )
            if ready["live"] and ready["ready"] >= ready["live"]:
                return
            if time.monotonic() > deadline:
                ray.get(self.state.unstage.remote(route.playground))
                raise DeploymentFailed(
                    f"version {route.version} was loaded by {ready['ready']} of {ready['live']} "
                    f"replicas within {timeout_s:.0f} s"
                )
            time.sleep(0.05)

    def _wait_applied(self, generation: int, timeout_s: float = 10.0) -> None:
        # Until every replica has the new routes, a request may still see the old ones.
        deadline = time.monotonic() + timeout_s
        while not ray.get(self.state.caught_up.remote(generation)):
            if time.monotonic() > deadline:
                log.warning(
                    "replicas did not apply routes generation %d within %.0f s", generation, timeout_s
                )
                return
            time.sleep(0.02)

    def activate(self, playground: str) -> None:
        self._wait_applied(ray.get(self.state.activate.remote(playground)))

    def unstage(self, playground: str) -> None:
        ray.get(self.state.unstage.remote(playground))

    def remove(self, playground: str) -> None:
        self._wait_applied(ray.get(self.state.remove.remote(playground)))

    def summary(self, playground: str) -> dict[str, Any]:
        return ray.get(self.state.summary.remote(playground))

    def stop(self) -> None:
        from ray import serve

        if not self.settings.ray_address:
            # A local Ray goes down with the hub and takes Serve along; a graceful serve.shutdown
            # would wait out the replicas' 30 s ingress draining period for nothing.
            return
        try:
            serve.shutdown()
        except Exception:  # Ray may already be going down; nothing left to release then
            log.debug("serve.shutdown failed", exc_info=True)
