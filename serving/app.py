"""The Ray Serve deployment: the prediction router and the multiplexed ONNX model server in one
replica, so a request crosses one hop.

``POST /<playground>/predict`` with ``{"rows": [{column: value, ...}, ...]}`` answers
``{"predictions": [...], "probabilities": [{class: p}, ...], "model_version": v}``. Each replica
keeps up to ``model_cache_size`` ONNX sessions in ``@serve.multiplexed``'s LRU, batches
concurrent small requests with ``@serve.batch``, pulls routes from the shared
:class:`~serving.state.ServingState` actor and reports what it holds and what it served.

Everything a submitted model does is bounded, so one model cannot hold up another playground:
loads run in the background (new routes and access lists apply at once, whatever is loading)
and stop after ``model_load_timeout_s``; a prediction stops after ``predict_timeout_s``; a model
runs on the event loop only while its runs are fast, otherwise on a thread; a request body may
hold ``max_body_bytes`` and :data:`~serving.router.MAX_FILES` files. A replica that has not
synced with the serving state for :data:`~serving.router.STALE_AFTER_S` answers 503 for private
playgrounds rather than trust old access lists.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import math
import time
import weakref
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
import ray
from pydantic import BaseModel
from ray import serve
from ray.serve import Application
from starlette.requests import Request
from starlette.responses import Response

from aims_spaces.core.limits import DecodeLimits
from aims_spaces.core.onnx_model import Deadline, Inputs, ModelOutput, OnnxModel
from aims_spaces.errors import (
    AimsError,
    DeploymentFailed,
    HubUnavailable,
    InvalidModel,
    ModelLoading,
    NotFound,
    ServerError,
)

from .model_server import LoadedModel, ModelServer, load_timed_out
from .router import BodyLimit, Router, TokenCache, check_length, error_body, read_body, read_files
from .stats import LatencyStats

log = logging.getLogger("ray.serve")

T = TypeVar("T")

JSON = "application/json"
SYNC_INTERVAL_S = 0.25
SYNC_CALL_TIMEOUT_S = 5.0  # a state actor that does not answer must not stall the sync loop
LOAD_WAIT_S = 2.0  # how long a request waits for its model to load before answering 503
LOAD_GRACE_S = 1.0  # beyond the load limit, for a load the watchdog stopped to say so itself
LOAD_SLOTS = 2  # models loading at once; a stuck load frees its slot when it times out
LOAD_THREADS = 4  # room for a couple of loads stuck in an operator nothing can interrupt
# A model whose latest run took longer than this runs on a thread rather than the event loop;
# one that runs on the loop is stopped after INLINE_LIMIT_S and run again on a thread, so a
# model that turns slow holds the loop (and every other playground's requests) that long at most.
INLINE_BUDGET_S = 0.01
INLINE_LIMIT_S = 0.5
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
    replica_resources: dict[str, float] = {}  # Ray custom resources (empty: any node)
    max_ongoing_requests: int = 64
    model_load_timeout_s: float = 60.0
    predict_timeout_s: float = 30.0
    max_body_bytes: int = 32 * 2**20
    decode_limits: dict[str, Any] = {}  # DecodeLimits fields (empty: the defaults)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Response(body, status_code=status, media_type=JSON, headers=headers)


class _RanLong(Exception):
    """A run on the event loop passed INLINE_LIMIT_S; it goes again on a thread."""


def _ran_long() -> Exception:
    return _RanLong()


def _predict_deadline(name: str, limit_s: float) -> Deadline:
    # 503, not a 4xx: the request is fine; the model deployed for it is too slow for it. No
    # Retry-After, because the same request would most likely time out again.
    def error() -> Exception:
        return DeploymentFailed(
            f"the model of {name!r} ran longer than {limit_s:g} s, the limit of one prediction; "
            "send fewer rows per request, or ask the playground's owner for a faster model"
        )

    return Deadline(time.monotonic() + limit_s, error)


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
        ray_actor_options={"num_cpus": config.replica_cpus, "resources": config.replica_resources},
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
            limits = DecodeLimits(**config.decode_limits)
            self.router = Router(
                TokenCache(Accounts(Registry(config.database_url)).authenticate), limits=limits
            )
            self.models = ModelServer(config.artifact_url, limits=limits)
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
            self._loading: dict[str, asyncio.Task[LoadedModel]] = {}
            self._built: dict[str, OnnxModel] = {}  # loaded and warm, not yet in the multiplexer
            self._load_slots = asyncio.Semaphore(LOAD_SLOTS)
            self._load_pool = ThreadPoolExecutor(LOAD_THREADS, thread_name_prefix="aims-model-load")
            self._active = 0  # requests this replica is handling now
            # Hold every deployed model before taking traffic: Serve routes to a replica only
            # once its constructor returns. Each load is bounded, so this is too.
            await self._sync()
            if self._loading:
                await asyncio.wait(
                    list(self._loading.values()), timeout=config.model_load_timeout_s + LOAD_GRACE_S
                )
            self._sync_task = asyncio.get_running_loop().create_task(self._sync_forever())
            gc.set_threshold(*GC_THRESHOLDS)

        # --- models ---------------------------------------------------------------------

        @serve.multiplexed(max_num_models_per_replica=config.model_cache_size)
        async def get_model(self, model_key: str) -> LoadedModel:
            # The multiplexer holds one lock while this runs, for every model of the replica:
            # the model is normally loaded beforehand by _load, outside that lock, so a slow
            # load here would only happen after an eviction raced a request.
            model = self._built.pop(model_key, None)
            if model is None:
                model = await self._build(model_key)
            self.loaded.add(model_key)
            self.failures.pop(model_key, None)
            loaded = LoadedModel(self.known[model_key], model, self.loaded.discard)
            self.held[model_key] = loaded
            return loaded

        async def _build(self, model_key: str) -> OnnxModel:
            """Load and warm a model on the load threads, within the load limit."""
            route = self.known[model_key]
            limit = self.config.model_load_timeout_s
            async with self._load_slots:  # the limit counts from here, not from a queue
                call = asyncio.get_running_loop().run_in_executor(
                    self._load_pool, lambda: self.models.load(route, timeout_s=limit)
                )
                try:
                    return await asyncio.wait_for(call, limit + LOAD_GRACE_S)
                except TimeoutError:  # stuck in an operator nothing interrupts; give up on it
                    log.warning("model %s did not finish loading within %.0f s", model_key, limit)
                    raise InvalidModel(load_timed_out(limit)) from None

        def _load(self, model_key: str) -> asyncio.Task[LoadedModel]:
            """Start loading a model in the background (once), recording a failure if it fails."""
            task = self._loading.get(model_key)
            if task is None:
                task = asyncio.get_running_loop().create_task(self._load_now(model_key))
                self._loading[model_key] = task
                task.add_done_callback(lambda done: self._loaded(model_key, done))
            return task

        async def _load_now(self, model_key: str) -> LoadedModel:
            self._built[model_key] = await self._build(model_key)
            try:
                return await self.get_model(model_key)
            finally:
                self._built.pop(model_key, None)

        def _loaded(self, model_key: str, task: asyncio.Task[LoadedModel]) -> None:
            self._loading.pop(model_key, None)
            if task.cancelled() or task.exception() is None:
                return
            error = task.exception()
            if isinstance(error, AimsError):
                self.failures[model_key] = error.message
            else:  # a bug or a broken store, not the model: details to the log only
                log.error("could not load model %s", model_key, exc_info=error)
                self.failures[model_key] = "the model server failed with an internal error (see its log)"

        async def _sync(self) -> None:
            stats, self.stats = self.stats, defaultdict(LatencyStats)
            try:
                generation, routes, staged = await asyncio.wait_for(
                    self.state.sync.remote(
                        self.replica_id,
                        self.generation,
                        sorted(self.loaded),
                        dict(self.failures),
                        {name: s.to_dict() for name, s in stats.items() if s.requests},
                    ),
                    SYNC_CALL_TIMEOUT_S,
                )
            except BaseException:
                for name, s in stats.items():  # report them next time instead
                    self.stats[name].merge(s)
                raise
            for route in (*routes, *staged):
                self.known[route.model_key] = route
            # Routes and access lists apply now, whatever is still loading.
            self.router.update(routes)
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
                if key not in self.loaded and key not in self.failures:
                    self._load(key)  # in the background: the next sync reports how it went

        async def _sync_forever(self) -> None:
            while True:
                await asyncio.sleep(SYNC_INTERVAL_S)
                try:
                    await self._sync()
                except Exception:  # the state actor restarting is no reason to stop serving
                    log.exception("serving state sync failed")

        # --- running models ---------------------------------------------------------------

        async def _run_model(
            self, loaded: LoadedModel, call: Callable[[Deadline], T], deadline: Deadline
        ) -> T:
            """``call(deadline)`` runs the model: on the event loop while its runs are fast,
            else (or once a run on the loop passes INLINE_LIMIT_S) on a thread."""
            start = time.perf_counter()
            if loaded.run_s <= INLINE_BUDGET_S:
                now = time.monotonic()
                inline = (
                    deadline
                    if deadline.at <= now + INLINE_LIMIT_S
                    else Deadline(now + INLINE_LIMIT_S, _ran_long)
                )
                try:
                    out = call(inline)
                except _RanLong:
                    loaded.run_s = math.inf
                else:
                    loaded.run_s = time.perf_counter() - start
                    return out
            out = await asyncio.to_thread(call, deadline)
            loaded.run_s = time.perf_counter() - start
            return out

        @serve.batch(
            max_batch_size=config.batch_max_size,
            batch_wait_timeout_s=config.batch_wait_s,
            batch_size_fn=lambda items: sum(item[2] for item in items),  # rows, not requests
        )
        async def _run(self, items: list[tuple[str, Inputs, int, Deadline]]) -> list[ModelOutput | AimsError]:
            results: list[ModelOutput | AimsError | None] = [None] * len(items)
            groups: dict[str, list[int]] = defaultdict(list)
            for i, (key, _, _, _) in enumerate(items):
                groups[key].append(i)
            for key, idx in groups.items():
                requests = [(items[i][1], items[i][2]) for i in idx]
                deadline = min((items[i][3] for i in idx), key=lambda d: d.at)
                try:
                    loaded = await self.get_model(key)
                    run = functools.partial(self.models.run_batch, loaded.model, requests)
                    outs: list[ModelOutput | AimsError] = list(await self._run_model(loaded, run, deadline))
                except AimsError as e:  # this playground's requests fail; the batch's others do not
                    outs = [e] * len(idx)
                for i, out in zip(idx, outs, strict=True):
                    results[i] = out
            return results  # type: ignore[return-value]

        async def _predict(self, key: str, columns: Inputs, n: int, deadline: Deadline) -> ModelOutput:
            # Serve's multiplexer holds the models; a weak view of what it holds answers most
            # requests without its per-call bookkeeping (evicted models drop out of the view).
            loaded = self.held.get(key) or await self.get_model(key)
            if n > self.config.batch_max_size or loaded.run_s > INLINE_BUDGET_S:
                # Big enough on its own, or a slow model: its own thread, away from the event
                # loop and from the batches other playgrounds' requests wait in.
                start = time.perf_counter()
                out = await asyncio.to_thread(loaded.model.run, columns, deadline=deadline)
                if n <= self.config.batch_max_size:  # a big request's time says little of a small one's
                    loaded.run_s = time.perf_counter() - start
                return out
            if self._active > 1:
                result = await self._run((key, columns, n, deadline))
                if isinstance(result, AimsError):
                    raise result
                return result
            # Nothing to batch with: run now rather than wait out the batching window.
            model = loaded.model
            return await self._run_model(loaded, lambda d: model.run(columns, deadline=d), deadline)

        # --- requests ---------------------------------------------------------------------

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
            authorization = content_type = content_length = None
            for key, value in request.scope["headers"]:  # ASGI header names are lower case
                if key == b"authorization":
                    authorization = value.decode("latin-1")
                elif key == b"content-type":
                    content_type = value
                elif key == b"content-length":
                    content_length = value
            try:
                route = self.router.resolve(name, authorization)
                limit = self.config.max_body_bytes
                check_length(content_length, limit)
                key = route.model_key
                if key not in self.loaded:
                    if key in self.failures:
                        raise DeploymentFailed(
                            f"the model of {name!r} could not be loaded: {self.failures[key]}"
                        )
                    try:
                        await asyncio.wait_for(asyncio.shield(self._load(key)), LOAD_WAIT_S)
                    except TimeoutError:
                        headers = {"Retry-After": "1"}
                        raise ModelLoading(
                            f"the model of {name!r} (version {route.version}) is loading; retry in a moment"
                        ) from None
                    except AimsError as e:
                        raise DeploymentFailed(
                            f"the model of {name!r} could not be loaded: {e.message}"
                        ) from None
                receive = BodyLimit(request.receive, limit)
                if content_type is not None and content_type.startswith(b"multipart/form-data"):
                    columns, n = self.router.files(route, await read_files(request.headers, receive))
                else:
                    columns, n = self.router.parse(route, await read_body(receive))
                deadline = _predict_deadline(name, self.config.predict_timeout_s)
                payload = self.router.format(route, await self._predict(key, columns, n, deadline))
                status = 200
            except AimsError as e:
                payload, status = error_body(e), e.status_code
                if isinstance(e, HubUnavailable):  # stale access lists: fresh ones are due any moment
                    headers = {"Retry-After": "1"}
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
            pool = getattr(self, "_load_pool", None)
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            try:
                await self.state.leave.remote(self.replica_id)
            except Exception:  # shutting down; the state forgets silent replicas anyway
                pass

    return PredictionServer.bind(config)
