"""Deployments: which submitted model a playground serves, swapped with no downtime.

The registry's ``deployments`` table is the record (a restart restores every deployment from
it); a :class:`Deployer` (Ray Serve, wired in by the hub) does the serving. A swap first has the
model server load and warm the new model everywhere, then records it, then points the route at
it, so no request fails or waits on a cold load.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain import DeploymentInfo, LatencySummary, Route, SubmissionStatus
from ..errors import AimsError, InvalidSpec, LimitReached, NotFound, ServerError, SubmissionNotFound
from .access import Access, Caller
from .evaldata import EvalDataRepo
from .playgrounds import Playgrounds
from .registry import DeploymentRow, MemberRow, PlaygroundRow, Registry, SubmissionRow, UserRow

log = logging.getLogger(__name__)

EXAMPLE_ROWS = 3


class Deployer(Protocol):
    """What the service needs of a model server (Ray Serve in the hub, in memory in tests)."""

    def predict_url(self, playground: str) -> str: ...
    def set_routes(self, routes: list[Route]) -> None: ...
    def stage(self, route: Route, timeout_s: float = ...) -> None: ...
    def activate(self, playground: str) -> None: ...
    def unstage(self, playground: str) -> None: ...
    def remove(self, playground: str) -> None: ...
    def summary(self, playground: str) -> dict[str, Any]: ...


class Deployments:
    """Which submitted model each playground serves: deploy, swap with no downtime, undeploy,
    and keep the model server's routes in step with the registry (members and privacy
    included)."""

    def __init__(self, registry: Registry, playgrounds: Playgrounds, evaldata: EvalDataRepo) -> None:
        self.registry = registry
        self.playgrounds = playgrounds
        self.evaldata = evaldata
        self.deployer: Deployer | None = None
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._owner_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
        playgrounds.on_access_change(self._refresh)

    def attach_deployer(self, deployer: Deployer) -> None:
        self.deployer = deployer

    def _need_deployer(self) -> Deployer:
        if self.deployer is None:
            raise ServerError("this hub runs without a model server")
        return self.deployer

    # --- routes ------------------------------------------------------------------------------

    def _route(self, s: Session, pg: PlaygroundRow, sub: SubmissionRow) -> Route:
        members = s.scalars(select(MemberRow.user_id).where(MemberRow.playground_id == pg.id)).all()
        example = self.evaldata.example(pg.eval_data_id)
        if example is None:  # warm the model on a few eval rows instead
            example = self.evaldata.features(pg.eval_data_id)
        rows: list[dict[str, Any]] = []
        if example is not None:
            rows = [
                {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in example.head(EXAMPLE_ROWS).to_dict("records")
            ]
        assert sub.model_sha256 is not None
        return Route(
            playground=pg.name,
            version=sub.version,
            model_sha256=sub.model_sha256,
            signature=pg.signature,
            private=pg.private,
            preprocessor_sha256=sub.preprocessor_sha256,
            allowed_user_ids=[pg.owner_id, *members],
            example=rows,
        )

    def routes(self) -> list[Route]:
        with self.registry.session() as s:
            rows = s.execute(
                select(PlaygroundRow, SubmissionRow)
                .join(DeploymentRow, DeploymentRow.playground_id == PlaygroundRow.id)
                .join(SubmissionRow, SubmissionRow.id == DeploymentRow.submission_id)
            ).all()
            return [self._route(s, pg, sub) for pg, sub in rows]

    def _refresh(self, name: str) -> None:
        """Re-send a deployed playground's route after its members or privacy changed."""
        if self.deployer is None:
            return
        with self.registry.session() as s:
            row = s.execute(
                select(PlaygroundRow, SubmissionRow)
                .join(DeploymentRow, DeploymentRow.playground_id == PlaygroundRow.id)
                .join(SubmissionRow, SubmissionRow.id == DeploymentRow.submission_id)
                .where(PlaygroundRow.name == name)
            ).first()
            route = self._route(s, *row) if row else None
        if route is None:
            self.deployer.remove(name)
            return
        # Members or privacy changed, the model did not: send the routes again (replicas apply
        # them within a sync, without loading anything), so access changes never wait on a load.
        with self._locks[name]:
            self.deployer.set_routes(self.routes())

    def serving_versions(self, names: Collection[str] | None = None) -> dict[str, int]:
        """Playground name -> the version it serves, from the registry, for every playground or
        only ``names`` (no access check: callers filter by the playgrounds they may see)."""
        q = (
            select(PlaygroundRow.name, SubmissionRow.version)
            .join(DeploymentRow, DeploymentRow.playground_id == PlaygroundRow.id)
            .join(SubmissionRow, SubmissionRow.id == DeploymentRow.submission_id)
        )
        if names is not None:
            q = q.where(PlaygroundRow.name.in_(list(names)))
        with self.registry.session() as s:
            rows = s.execute(q).all()
        return {name: version for name, version in rows}

    # --- deploy / swap / undeploy ------------------------------------------------------------

    def deploy(self, caller: Caller | None, name: str, version: int) -> DeploymentInfo:
        """Serve ``version`` on the playground's endpoint (a swap when another version serves)."""
        deployer = self._need_deployer()
        if not isinstance(version, int) or isinstance(version, bool):
            raise InvalidSpec(f"version must be an integer, got {version!r}")
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.MANAGE)
            sub = s.scalar(
                select(SubmissionRow).where(
                    SubmissionRow.playground_id == pg.id, SubmissionRow.version == version
                )
            )
            if sub is None:
                raise SubmissionNotFound(f"playground {name!r} has no version {version}")
            if sub.model_sha256 is None:
                raise InvalidSpec(f"version {version} has no model to deploy (it was predictions only)")
            if sub.status == SubmissionStatus.FAILED.value:
                raise InvalidSpec(f"version {version} failed evaluation and cannot be deployed: {sub.error}")
            if not pg.feature_schema:
                raise InvalidSpec(
                    f"playground {name!r} has no feature schema, so a model cannot serve requests"
                )
            assert caller is not None
            route = self._route(s, pg, sub)
            pg_id, sub_id, owner_id = pg.id, sub.id, pg.owner_id
        # The owner's lock makes "count, load, record" one step per account: parallel deploys to
        # an owner's playgrounds cannot all pass the count before any is recorded.
        with self._owner_locks[owner_id], self._locks[name]:
            with self.registry.session() as s:
                pg = s.get(PlaygroundRow, pg_id)
                if pg is None:
                    raise NotFound(f"playground {name!r} does not exist")
                self._check_count(s, pg, caller)
            deployer.stage(route)  # loads and warms on every replica, or raises
            try:
                with self.registry.session() as s:
                    row = s.scalar(select(DeploymentRow).where(DeploymentRow.playground_id == pg_id))
                    if row is None:
                        s.add(
                            DeploymentRow(
                                playground_id=pg_id, submission_id=sub_id, deployed_by=caller.user_id
                            )
                        )
                    else:
                        row.submission_id = sub_id
                        row.deployed_by = caller.user_id
                        row.deployed_at = datetime.now(UTC)
            except BaseException:
                deployer.unstage(name)
                raise
            deployer.activate(name)
        log.info("%s now serves version %d", name, version)
        return self.get(caller, name)

    def _check_count(self, s: Session, pg: PlaygroundRow, caller: Caller) -> None:
        """An ordinary owner's playgrounds serve at most ``user_max_deployments`` models (a swap
        on a playground that already serves one is always fine)."""
        if caller.is_admin:
            return
        serving = s.scalars(
            select(DeploymentRow.playground_id)
            .join(PlaygroundRow, PlaygroundRow.id == DeploymentRow.playground_id)
            .where(PlaygroundRow.owner_id == pg.owner_id)
        ).all()
        limit = self.playgrounds.settings.user_max_deployments
        if pg.id not in serving and len(serving) >= limit:
            raise LimitReached(
                f"your playgrounds already serve {len(serving)} models, the most an account may "
                f"(AIMS_USER_MAX_DEPLOYMENTS={limit}); undeploy one first or ask an admin"
            )

    def undeploy(self, caller: Caller | None, name: str) -> None:
        deployer = self._need_deployer()
        with self._locks[name]:
            with self.registry.session() as s:
                pg = self.playgrounds.load(s, name, caller, Access.MANAGE)
                row = s.scalar(select(DeploymentRow).where(DeploymentRow.playground_id == pg.id))
                if row is None:
                    raise NotFound(f"playground {name!r} has no deployed model")
                s.delete(row)
            deployer.remove(name)

    def get(self, caller: Caller | None, name: str) -> DeploymentInfo:
        deployer = self._need_deployer()
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.READ)
            row = s.execute(
                select(DeploymentRow, SubmissionRow.version, UserRow.username)
                .join(SubmissionRow, SubmissionRow.id == DeploymentRow.submission_id)
                .join(UserRow, UserRow.id == DeploymentRow.deployed_by)
                .where(DeploymentRow.playground_id == pg.id)
            ).first()
            if row is None:
                raise NotFound(f"playground {name!r} has no deployed model")
            dep, version, username = row
        try:
            summary = deployer.summary(name)
        except AimsError:
            raise
        except Exception:  # the serving state is unreachable; report what the registry knows
            log.exception("could not read serving state")
            summary = {"version": None, "stats": {}, "replicas": 0, "replicas_ready": 0}
        return DeploymentInfo(
            playground=name,
            version=version,
            deployed_at=dep.deployed_at,
            deployed_by=username,
            predict_url=deployer.predict_url(name),
            ready=summary.get("version") == version and summary.get("replicas", 0) > 0,
            replicas=summary.get("replicas", 0),
            replicas_ready=summary.get("replicas_ready", 0),
            stats=LatencySummary(**summary.get("stats", {})),
        )
