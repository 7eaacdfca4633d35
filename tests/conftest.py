"""Shared fixtures. One real hub (uvicorn + local Ray) serves the whole session.

No test touches a real home: the hub's AIMS_HOME and the client's config dir live in temp dirs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.model_selection import train_test_split

from aims_spaces.client import HubClient
from aims_spaces.domain import Column, InputType, Signature, TaskType
from aims_spaces.hub.testing import HubProcess


@pytest.fixture(scope="session", autouse=True)
def _isolated_client_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("AIMS_CONFIG_DIR", "AIMS_HUB_URL", "AIMS_TOKEN", "AIMS_HOME")}
    os.environ["AIMS_CONFIG_DIR"] = str(tmp_path_factory.mktemp("client-config"))
    os.environ["AIMS_HOME"] = str(tmp_path_factory.mktemp("no-real-home"))
    os.environ.pop("AIMS_HUB_URL", None)
    os.environ.pop("AIMS_TOKEN", None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """The session's hub, started the Spaces way (`python app.py`), with only its two main ports
    set (it picks HAProxy's stats and metrics ports itself)."""
    root = tmp_path_factory.mktemp("hub")
    proc = HubProcess(
        root / "home",
        env={
            "AIMS_MAX_UPLOAD_MB": "8",
            "AIMS_MODEL_CACHE_SIZE": "2",
            # Short limits, so the tests of runaway models finish quickly.
            "AIMS_EVALUATION_TIMEOUT_S": "20",
            "AIMS_MODEL_LOAD_TIMEOUT_S": "15",
        },
        command=[sys.executable, "app.py"],
        default_ports=True,
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def admin(hub: HubProcess) -> HubClient:
    return HubClient(hub.url, token=hub.admin_token)


class Users:
    """Creates users on the session hub and hands out clients logged in as them."""

    def __init__(self, hub: HubProcess, admin: HubClient) -> None:
        self.hub = hub
        self.admin = admin
        self._clients: dict[str, HubClient] = {}
        self.passwords: dict[str, str] = {}

    def __call__(self, username: str) -> HubClient:
        if username not in self._clients:
            out = self.admin.request("POST", "/api/users", json_body={"username": username})
            self._clients[username] = HubClient(self.hub.url, token=out["token"])
            self.passwords[username] = out["password"]
        return self._clients[username]


@pytest.fixture(scope="session")
def users(hub: HubProcess, admin: HubClient) -> Users:
    return Users(hub, admin)


@pytest.fixture(scope="session")
def demos(admin: HubClient) -> list[str]:
    """The demo playgrounds a fresh hub starts with, seeded on the session hub by the same code."""
    from apps.demos import seed_demos

    seed_demos(admin)
    return ["iris", "diabetes", "reviews", "digits", "tones", "motion"]


@pytest.fixture(scope="session")
def anonymous(hub: HubProcess) -> HubClient:
    return HubClient(hub.url, token="")


@pytest.fixture
def one_utc_day() -> None:
    """Daily quotas count per UTC day, so a test of one must not straddle midnight: a test that
    starts in a day's last ten minutes (a run that happens to reach them) waits for the next."""
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    left = (midnight - now).total_seconds()
    if left < 600:
        time.sleep(left + 1)


@pytest.fixture(scope="session")
def iris() -> dict[str, pd.DataFrame | pd.Series]:
    data = load_iris(as_frame=True)
    y = data.target.map(dict(enumerate(data.target_names)))
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, y, test_size=0.3, random_state=0, stratify=y
    )
    return {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}


@pytest.fixture(scope="session")
def diabetes() -> dict[str, pd.DataFrame | pd.Series]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    return {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}


def signature(
    schema: list[Column],
    task_type: TaskType,
    classes: list[Any] | None = None,
    input_type: InputType = InputType.TABULAR,
) -> Signature:
    """A playground's signature from its parts, for tests that build models without a hub."""
    return Signature(input_type=input_type, task_type=task_type, feature_schema=schema, classes=classes)


def artifact_files(home: Path) -> set[str]:
    root = home / "artifacts"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def evaldata_dirs(home: Path) -> set[str]:
    root = home / "evaldata"
    return {p.name for p in root.iterdir()} if root.exists() else set()


def wrong_on_some_private_row(y: np.ndarray) -> np.ndarray:
    """``y`` with every other row moved to the next class: more wrong rows than a half-public
    split has public rows, so whatever the secret split, some private row is wrong and the private
    score is below perfect (``np.roll`` would leave a row right where its neighbour shares its
    label, and a handful of wrong rows may all land on public ones)."""
    classes = sorted(set(y))
    out = y.copy()
    wrong = range(0, len(y), 2)
    assert len(wrong) > round(len(y) * 0.5), "a half-public split could hold every wrong row"
    for i in wrong:
        out[i] = classes[(classes.index(y[i]) + 1) % len(classes)]
    return out
