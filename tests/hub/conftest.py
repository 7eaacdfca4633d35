"""The fast layer: the hub's service layer opened on a temp home with no Ray and no web server.

``Hub.open`` takes in-process implementations of the two interfaces the service layer defines:
an evaluation queue that scores each job at once with the evaluators' own ``run_job``, and a
deployer that loads models with the model server's own loader and keeps routes in a dict.
Everything else (registry, artifact store, eval-data repo, access, quotas) is the real thing.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from aims_spaces.domain import EvaluationJob, PlaygroundInfo, PlaygroundSpec, Route, SubmissionMeta
from aims_spaces.hub import Hub, Settings
from aims_spaces.hub.access import Caller
from aims_spaces.hub.submissions import SubmissionUpload
from aims_spaces.hub.testing import PostgresServer
from evaluators.jobs import run_job
from serving.model_server import ModelServer


class InlineQueue:
    """Scores each job when it is submitted, in this process; ``hold=True`` keeps jobs waiting
    (as a busy cluster would) until :meth:`release`."""

    def __init__(self, hub: Hub, hold: bool = False) -> None:
        self.hub = hub
        self.hold = hold
        self.jobs: list[EvaluationJob] = []

    def submit(self, job: EvaluationJob) -> None:
        self.jobs.append(job)
        if not self.hold:
            self.hub.submissions.complete(job.submission_id, run_job(job))

    def release(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            self.hub.submissions.complete(job.submission_id, run_job(job))


class MemoryDeployer:
    """Routes in a dict; staging loads and warms the model as a replica would."""

    def __init__(self, artifact_url: str, delay_s: float = 0.0) -> None:
        self.server = ModelServer(artifact_url)
        self.delay_s = delay_s  # how long staging takes (a replica loading and warming)
        self.staged: dict[str, Route] = {}
        self.active: dict[str, Route] = {}
        self.models: dict[str, Any] = {}

    def predict_url(self, playground: str) -> str:
        return f"memory:///{playground}/predict"

    def set_routes(self, routes: list[Route]) -> None:
        self.active = {r.playground: r for r in routes}

    def stage(self, route: Route, timeout_s: float | None = None) -> None:
        time.sleep(self.delay_s)
        self.models[route.model_key] = self.server.load(route)
        self.staged[route.playground] = route

    def activate(self, playground: str) -> None:
        self.active[playground] = self.staged.pop(playground)

    def unstage(self, playground: str) -> None:
        self.staged.pop(playground, None)

    def remove(self, playground: str) -> None:
        self.active.pop(playground, None)

    def summary(self, playground: str) -> dict[str, Any]:
        route = self.active.get(playground)
        return {
            "version": route.version if route else None,
            "replicas": 1,
            "replicas_ready": 1 if route else 0,
            "stats": {},
        }


@dataclass
class Service:
    """A hub with its in-process queue and deployer, and an admin to make users with."""

    hub: Hub
    queue: InlineQueue
    deployer: MemoryDeployer
    admin: Caller

    def user(self, username: str, is_admin: bool = False) -> Caller:
        _, token, _ = self.hub.accounts.create_user(self.admin, username, is_admin=is_admin)
        caller = self.hub.accounts.authenticate(token.token)
        assert caller is not None
        return caller

    def playground(self, owner: Caller, name: str, data: dict[str, Any], **spec: Any) -> PlaygroundInfo:
        task = "regression" if pd.api.types.is_float_dtype(data["y_test"]) else "classification"
        return self.hub.playgrounds.create(
            owner,
            PlaygroundSpec(name=name, task_type=spec.pop("task_type", task), **spec),
            eval_labels=data["y_test"],
            eval_features=data["X_test"],
            y_train=data["y_train"],
        )

    def submit_predictions(self, caller: Caller | None, name: str, predictions: Any, **meta: Any) -> Any:
        upload = SubmissionUpload(
            meta=SubmissionMeta(**meta), predictions=pd.DataFrame({"prediction": list(predictions)})
        )
        return self.hub.submissions.submit(caller, name, upload)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the session; each test gets a database of its own."""
    folder = Path(tempfile.mkdtemp(prefix="aims-pg-"))  # not under pytest's root-only temp folder
    server = PostgresServer(folder).start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Each service-layer test runs on SQLite (the default file) and on PostgreSQL."""
    if request.param == "sqlite":
        return None
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
def service(tmp_path, database_url) -> Iterator[Service]:
    hub = Hub.open(
        Settings(
            home=tmp_path / "home", database_url=database_url, bootstrap_samples=20, daily_submission_limit=3
        )
    )
    queue = InlineQueue(hub)
    deployer = MemoryDeployer(hub.store.url)
    hub.submissions.attach_queue(queue)
    hub.deployments.attach_deployer(deployer)
    credentials = hub.accounts.ensure_admin("admin", tmp_path / "admin.json", "http://hub.invalid")
    assert credentials is not None
    admin = hub.accounts.authenticate(credentials.token)
    assert admin is not None
    yield Service(hub, queue, deployer, admin)
    hub.close()
