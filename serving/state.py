"""The serving state all replicas share: which model each playground serves, what each replica
has loaded, and the request statistics they report.

The hub is the only writer of routes (from the registry); replicas pull them every few hundred
milliseconds and report what they hold. A swap is staged first, activated only once every live
replica has loaded and warmed the new model. Plain Python; run as a Ray actor by the deployer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aims_spaces.domain import LatencySummary, Route

from .stats import LatencyStats

REPLICA_TIMEOUT_S = 5.0


@dataclass
class _Replica:
    loaded: set[str] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)
    seen: float = 0.0
    generation: int = -1  # the newest routes this replica has applied


class ServingState:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.staged: dict[str, Route] = {}
        self.generation = 0
        self.replicas: dict[str, _Replica] = {}
        self.stats: dict[str, LatencyStats] = {}
        self.since: dict[str, float] = {}

    # --- written by the hub ---------------------------------------------------------------

    def set_routes(self, routes: list[Route]) -> int:
        self.routes = {r.playground: r for r in routes}
        self.generation += 1
        return self.generation

    def stage(self, route: Route) -> None:
        self.staged[route.playground] = route
        for replica in self.replicas.values():
            replica.failures.pop(route.model_key, None)
        self.generation += 1

    def activate(self, playground: str) -> int:
        route = self.staged.pop(playground)
        previous = self.routes.get(playground)
        self.routes[playground] = route
        if previous is None or previous.version != route.version:
            self.stats[playground] = LatencyStats()
            self.since[playground] = time.time()
        self.generation += 1
        return self.generation

    def unstage(self, playground: str) -> None:
        self.staged.pop(playground, None)
        self.generation += 1

    def remove(self, playground: str) -> int:
        self.routes.pop(playground, None)
        self.staged.pop(playground, None)
        self.stats.pop(playground, None)
        self.generation += 1
        return self.generation

    # --- written by replicas ----------------------------------------------------------------

    def sync(
        self,
        replica_id: str,
        applied: int,
        loaded: list[str],
        failures: dict[str, str],
        stats: dict[str, dict[str, Any]],
    ) -> tuple[int, list[Route], list[Route]]:
        replica = self.replicas.setdefault(replica_id, _Replica())
        replica.generation = applied
        replica.loaded = set(loaded)
        replica.failures = dict(failures)
        replica.seen = time.monotonic()
        for playground, delta in stats.items():
            if playground in self.routes:
                self.stats.setdefault(playground, LatencyStats()).merge(LatencyStats.from_dict(delta))
        return self.generation, list(self.routes.values()), list(self.staged.values())

    def leave(self, replica_id: str) -> None:
        self.replicas.pop(replica_id, None)

    # --- read by the hub --------------------------------------------------------------------

    def _live(self) -> list[_Replica]:
        now = time.monotonic()
        return [r for r in self.replicas.values() if now - r.seen < REPLICA_TIMEOUT_S]

    def caught_up(self, generation: int) -> bool:
        """Whether every live replica has applied routes at least as new as ``generation``."""
        return all(r.generation >= generation for r in self._live())

    def readiness(self, model_key: str) -> dict[str, Any]:
        live = self._live()
        errors = [r.failures[model_key] for r in live if model_key in r.failures]
        return {
            "live": len(live),
            "ready": sum(model_key in r.loaded for r in live),
            "error": errors[0] if errors else None,
        }

    def summary(self, playground: str) -> dict[str, Any]:
        route = self.routes.get(playground)
        stats = self.stats.get(playground, LatencyStats()).summary()
        ready = self.readiness(route.model_key) if route else {"live": len(self._live()), "ready": 0}
        return {
            "version": route.version if route else None,
            "stats": stats.model_dump(),
            "replicas": ready["live"],
            "replicas_ready": ready["ready"],
            "since": self.since.get(playground),
        }

    def ping(self) -> int:
        return self.generation


def empty_summary() -> dict[str, Any]:
    return {"version": None, "stats": LatencySummary().model_dump(), "replicas": 0, "replicas_ready": 0}
