"""The Ray Serve deployment: the prediction router and the multiplexed ONNX model server in one
replica, so a request crosses one hop.

``POST /<playground>/predict`` with ``{"rows": [{column: value, ...}, ...]}`` answers
``{"predictions": [...], "probabilities": [{class: p}, ...], "model_version": v}``. Each replica
keeps up to ``model_cache_size`` ONNX sessions in ``@serve.multiplexed``'s LRU, batches
concurrent small requests with ``@serve.batch``, pulls routes from the shared
:class:`~serving.state.ServingState` actor and reports what it holds and what it served.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import weakref
from collections import defaultdict
from typing import Any

import orjson
import ray
from pydantic import BaseModel
from ray import serve
from ray.serve import Application
from starlette.requests import Request
from starlette.responses import Response

from aims_spaces.core.onnx_model import Inputs, ModelOutput
from aims_spaces.errors import AimsError, ModelLoading, NotFound, ServerError

from .model_server import LoadedModel, ModelServer
from .router import Router, TokenCache, error_body
from .stats import LatencyStats

log = logging.getLogger("ray.serve")

JSON = "application/json"
SYNC_INTERVAL_S = 0.25
LOAD_WAIT_S = 2.0
# Young-generation collections every 20,000 allocations rather than 700. Ray freezes what the
# replica holds after start, so with Python's defaults a full collection ran twice a second
# under load (~5 ms each, stalling every request in flight); these thresholds measured +8%
# requests/s and no full collection in a minute of load.
GC_THRESHOLDS = (20_000, 50, 50)


class ServeConfig(BaseModel):
    """Everything a replica needs; built by the deployer from the hub's settings."""

    database_url: str
    artifact_url: str
    state_actor: str
    namespace: str
    model_cache_size: int = 8
    batch_max_size: int = 64
    batch_wait_s: float = 0.0005
    replicas: int = 1
    max_replicas: int | None = None
    replica_cpus: float = 0.25
    max_ongoing_requests: int = 64


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Response(body, status_code=status, media_type=JSON, headers=headers)


async def _form_files(request: Request) -> list[bytes]:
    from aims_spaces.errors import InvalidInput

    try:
        form = await request.form(max_files=10_000)
    except Exception as e:  # starlette's parser raises several kinds for a malformed body
        raise InvalidInput(f"the multipart body does not parse: {e}") from None
    files = []
    for _, value in form.multi_items():
        if hasattr(value, "read"):
            files.append(await value.read())
    return files


def build_app(config: ServeConfig) -> Application:
    """The Serve application for ``config`` (decorator arguments come from the settings)."""
    scaling: dict[str, Any]
    if config.max_replicas and config.max_replicas > config.replicas:
        scaling = {
            "autoscaling_config": {
                "min_replicas": config.replicas,
                "max_replicas": config.max_replicas,
                "target_ongoing_requests": max(config.max_ongoing_requests // 2, 1),
            }
        }
    else:
        scaling = {"num_replicas": config.replicas}

    @serve.deployment(
        name="predictions",
        ray_actor_options={"num_cpus": config.replica_cpus},
        max_ongoing_requests=config.max_ongoing_requests,
        health_check_period_s=5,
        # One log line per request costs ~7% of a replica's CPU; errors are still logged.
        logging_config={"enable_access_log": False, "log_level": "WARNING"},
        **scaling,
    )
    class PredictionServer:
        async def __init__(self, config: ServeConfig) -> None:
            from aims_spaces.hub.accounts import Accounts
            from aims_spaces.hub.registry import Registry

            self.config = config
            self.router = Router(TokenCache(Accounts(Registry(config.database_url)).authenticate))
            self.models = ModelServer(config.artifact_url)
            self.state = ray.get_actor(config.state_actor, namespace=config.namespace)
            self.replica_id = serve.get_replica_context().replica_id.unique_id
            self.known: dict[str, Any] = {}
            self.generation = -1
            self.loaded: set[str] = set()
            self.held: weakref.WeakValueDictionary[str, LoadedModel] = weakref.WeakValueDictionary()
            self.seen: set[str] = set()
            self.staged_keys: set[str] = set()
            self.failures: dict[str, str] = {}
            self.stats: dict[str, LatencyStats] = defaultdict(LatencyStats)
            self._loading: dict[str, asyncio.Task[Any]] = {}
            self._active = 0  # requests this replica is handling now
            # Hold every deployed model before taking traffic: Serve routes to a replica only
            # once its constructor returns.
            await self._sync()
            self._sync_task = asyncio.get_running_loop().create_task(self._sync_forever())
            gc.set_threshold(*GC_THRESHOLDS)

        # --- models ---------------------------------------------------------------------

        @serve.multiplexed(max_num_models_per_replica=config.model_cache_size)
        async def get_model(self, model_key: str) -> LoadedModel:
            route = self.known[model_key]
            model = await asyncio.to_thread(self.models.load, route)
            self.loaded.add(model_key)
            self.failures.pop(model_key, None)
            loaded = LoadedModel(route, model, self.loaded.discard)
            self.held[model_key] = loaded
            return loaded

        async def _load(self, model_key: str) -> LoadedModel:
            task = self._loading.get(model_key)
            if task is None:
                task = asyncio.get_running_loop().create_task(self.get_model(model_key))
                self._loading[model_key] = task
                task.add_done_callback(lambda _: self._loading.pop(model_key, None))
            return await asyncio.shield(task)

        async def _sync(self) -> None:
            stats, self.stats = self.stats, defaultdict(LatencyStats)
            generation, routes, staged = await self.state.sync.remote(
                self.replica_id,
                self.generation,
                sorted(self.loaded),
                dict(self.failures),
                {name: s.to_dict() for name, s in stats.items() if s.requests},
            )
            for route in (*routes, *staged):
                self.known[route.model_key] = route
            self.router.routes = {route.playground: route for route in routes}
            self.generation = generation
            # A staged swap waits on this replica, so its model loads even if it was evicted.
            # Other routes load once when first seen; after an LRU eviction a request reloads.
            wanted = [r.model_key for r in staged]
            for key in set(wanted) - self.staged_keys:
                self.failures.pop(key, None)  # newly staged: try again even if it failed before
            self.staged_keys = set(wanted)
            wanted += [r.model_key for r in routes if r.model_key not in self.seen][
                : self.config.model_cache_size
            ]
            for key in wanted:
                self.seen.add(key)
                if key in self.loaded or key in self.failures:
                    continue
                try:
                    await self._load(key)
                except AimsError as e:
                    self.failures[key] = e.message
                except Exception as e:  # a model that cannot load must not stop the replica
                    log.exception("could not load model %s", key)
                    self.failures[key] = f"{type(e).__name__}: {e}"

        async def _sync_forever(self) -> None:
            while True:
                await asyncio.sleep(SYNC_INTERVAL_S)
                try:
                    await self._sync()
                except Exception:  # the state actor restarting is no reason to stop serving
                    log.exception("serving state sync failed")

        # --- requests ---------------------------------------------------------------------

        @serve.batch(
            max_batch_size=config.batch_max_size,
            batch_wait_timeout_s=config.batch_wait_s,
            batch_size_fn=lambda items: sum(item[2] for item in items),  # rows, not requests
        )
        async def _run(self, items: list[tuple[str, Inputs, int]]) -> list[ModelOutput]:
            results: list[ModelOutput | None] = [None] * len(items)
            groups: dict[str, list[int]] = defaultdict(list)
            for i, (key, _, _) in enumerate(items):
                groups[key].append(i)
            for key, idx in groups.items():
                loaded = await self.get_model(key)
                outs = self.models.run_batch(loaded.model, [(items[i][1], items[i][2]) for i in idx])
                for i, out in zip(idx, outs, strict=True):
                    results[i] = out
            return results  # type: ignore[return-value]

        async def _predict(self, key: str, columns: Inputs, n: int) -> ModelOutput:
            if n > self.config.batch_max_size:  # big enough on its own; keep the loop free
                loaded = await self.get_model(key)
                return await asyncio.to_thread(loaded.model.run, columns)
            if self._active > 1:
                return await self._run((key, columns, n))
            # Nothing to batch with: run now rather than wait out the batching window. Serve's
            # multiplexer holds the models; a weak view of what it holds answers most requests
            # without its per-call bookkeeping (evicted models drop out of the view).
            loaded = self.held.get(key) or await self.get_model(key)
            return loaded.model.run(columns)

        async def __call__(self, request: Request) -> Response:
            self._active += 1
            try:
                return await self._handle(request)
            finally:
                self._active -= 1

        async def _handle(self, request: Request) -> Response:
            start = time.perf_counter()
            parts = request.scope["path"].strip("/").split("/")  # request.url would build a URL
            if len(parts) != 2 or parts[1] != "predict":
                return _json(error_body(NotFound("use POST /<playground>/predict")), 404)
            name = parts[0]
            if request.method != "POST":
                return _json({"error": {"code": "MethodNotAllowed", "message": "use POST"}}, 405)
            headers = None
            authorization = content_type = None
            for key, value in request.scope["headers"]:  # ASGI header names are lower case
                if key == b"authorization":
                    authorization = value.decode("latin-1")
                elif key == b"content-type":
                    content_type = value
            try:
                route = self.router.resolve(name, authorization)
                key = route.model_key
                if key not in self.loaded:
                    if key in self.failures:
                        raise ModelLoading(f"the model of {name!r} could not be loaded: {self.failures[key]}")
                    try:
                        await asyncio.wait_for(asyncio.shield(self._load(key)), LOAD_WAIT_S)
                    except TimeoutError:
                        headers = {"Retry-After": "1"}
                        raise ModelLoading(
                            f"the model of {name!r} (version {route.version}) is loading; retry in a moment"
                        ) from None
                if content_type is not None and content_type.startswith(b"multipart/form-data"):
                    columns, n = self.router.files(route, await _form_files(request))
                else:
                    columns, n = self.router.parse(route, await request.body())
                payload = self.router.format(route, await self._predict(key, columns, n))
                status = 200
            except AimsError as e:
                payload, status = error_body(e), e.status_code
            except Exception:  # a bug here, not a bad request: log it, answer without internals
                log.exception("prediction failed")
                payload, status = error_body(ServerError("internal error in the model server")), 500
            if name in self.router.routes:
                self.stats[name].record((time.perf_counter() - start) * 1000, error=status >= 400)
            return _json(payload, status, headers)

        async def __del__(self) -> None:
            task = getattr(self, "_sync_task", None)
            if task is not None:
                task.cancel()
            try:
                await self.state.leave.remote(self.replica_id)
            except Exception:  # shutting down; the state forgets silent replicas anyway
                pass

    return PredictionServer.bind(config)
