"""The registry at the scale of a busy hub, SQLite and PostgreSQL side by side in one run.

1,000 playgrounds and 100,000 submissions (20,000 of them on one playground, the rest spread
over the others, from 200 users), written straight into the registry after one playground is
made and scored through the service layer (the rows are copies of its scored entry, each with
another score). Then, through the hub's own service objects (``Hub.open``, as `make run` opens
them, without Ray or a web server):

- submit: one predictions file accepted on the 20,000-entry playground (checks, quota, version,
  artifact and row written; the scoring is the evaluators' and not timed here);
- board: the 20,000-entry experiment board built cold (a freshly opened hub) and warm (its cache);
- front page: the listing of 1,000 playgrounds as a visitor (the first 60 rows with their best
  scores, as the page shows them);
- memory: the resident size of this process, which holds the service objects as the hub does.

PostgreSQL is a throwaway 15 cluster started in a temp folder (as the tests do).

    .venv/bin/python bench/registry.py [--playgrounds 1000 --submissions 100000 --big 20000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `apps` and `tests` from a checkout

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from aims_spaces.domain import PlaygroundSpec, SubmissionMeta  # noqa: E402
from aims_spaces.hub import Hub, Settings  # noqa: E402
from aims_spaces.hub.registry import PlaygroundRow, SubmissionRow, UserRow  # noqa: E402
from aims_spaces.hub.submissions import SubmissionUpload  # noqa: E402
from aims_spaces.hub.testing import PostgresServer  # noqa: E402
from tests.hub.conftest import InlineQueue  # noqa: E402


def summary(times: list[float]) -> tuple[float, float]:
    ms = [t * 1000 for t in times]
    return statistics.median(ms), float(np.percentile(ms, 99))


def open_hub(home: Path, url: str | None) -> Hub:
    settings = Settings(home=home, database_url=url, bootstrap_samples=20, daily_submission_limit=10_000)
    return Hub.open(settings)


def fill(hub: Hub, playgrounds: int, submissions: int, big: int) -> tuple[Any, str]:
    """One playground made and scored through the services; the rest copied into the registry."""
    admin_creds = hub.accounts.ensure_admin("admin", hub.settings.home / "admin.json", "http://bench")
    assert admin_creds is not None
    admin = hub.accounts.authenticate(admin_creds.token)
    X, y = load_iris(return_X_y=True, as_frame=True)
    labels = y.map(dict(enumerate(["setosa", "versicolor", "virginica"])))
    hub.playgrounds.create(
        admin, PlaygroundSpec(name="big", task_type="classification"), eval_labels=labels, eval_features=X
    )
    queue = InlineQueue(hub)
    hub.submissions.attach_queue(queue)
    upload = SubmissionUpload(meta=SubmissionMeta(), predictions=pd.DataFrame({"prediction": list(labels)}))
    hub.submissions.submit(admin, "big", upload)
    rng = random.Random(0)
    with hub.registry.session() as s:
        users = [{"username": f"user{i}", "password_hash": "x", "is_admin": False} for i in range(200)]
        s.execute(insert(UserRow), users)
        user_ids = list(s.scalars(select(UserRow.id).where(UserRow.username.like("user%"))))
        first_pg = s.scalar(select(PlaygroundRow).where(PlaygroundRow.name == "big"))
        assert first_pg is not None
        columns = PlaygroundRow.__table__.columns
        pg_fields = {c.key: getattr(first_pg, c.key) for c in columns if c.key != "id"}
        rows = []
        for i in range(1, playgrounds):
            rows.append({**pg_fields, "name": f"pg{i:04d}", "eval_data_id": f"{first_pg.eval_data_id}-{i}"})
        s.execute(insert(PlaygroundRow), rows)
        pg_ids = list(s.scalars(select(PlaygroundRow.id).where(PlaygroundRow.name != "big")))
        scored = s.scalar(select(SubmissionRow).where(SubmissionRow.playground_id == first_pg.id))
        assert scored is not None and scored.scored_at is not None
        skip = {"id", "version", "playground_id", "user_id", "scores", "created_at", "scored_at"}
        base = {c.key: getattr(scored, c.key) for c in SubmissionRow.__table__.columns if c.key not in skip}
        base.pop("scored_predictions_sha256", None)
        next_version: dict[int, int] = {first_pg.id: 2}
        targets = [first_pg.id] * (big - 1) + [rng.choice(pg_ids) for _ in range(submissions - big)]
        batch: list[dict[str, Any]] = []
        for n, pid in enumerate(targets):
            version = next_version.get(pid, 1)
            next_version[pid] = version + 1
            acc = round(rng.uniform(0.6, 1.0), 4)
            batch.append(
                {
                    **base,
                    "playground_id": pid,
                    "user_id": rng.choice(user_ids),
                    "version": version,
                    "scores": {split: {**v, "accuracy": acc} for split, v in scored.scores.items()},
                    "created_at": scored.created_at - timedelta(seconds=submissions - n),
                    "scored_at": scored.scored_at - timedelta(seconds=submissions - n),
                }
            )
            if len(batch) == 5000:
                s.execute(insert(SubmissionRow), batch)
                batch = []
        if batch:
            s.execute(insert(SubmissionRow), batch)
        for pid, nxt in next_version.items():
            s.get(PlaygroundRow, pid).next_version = nxt  # type: ignore[union-attr]
    queue.hold = True
    return admin, admin_creds.token


def measure(label: str, url: str | None, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    from apps.hub_app import FrontPage
    from apps.session import Sessions

    hub = open_hub(home, url)
    t = time.perf_counter()
    admin, token = fill(hub, args.playgrounds, args.submissions, args.big)
    fill_s = time.perf_counter() - t
    X, y = load_iris(return_X_y=True, as_frame=True)
    labels = list(y.map(dict(enumerate(["setosa", "versicolor", "virginica"]))))
    submit = []
    for _ in range(args.repeat):
        upload = SubmissionUpload(meta=SubmissionMeta(), predictions=pd.DataFrame({"prediction": labels}))
        t = time.perf_counter()
        hub.submissions.submit(admin, "big", upload)
        submit.append(time.perf_counter() - t)
    hub.close()
    cold, warm, front = [], [], []
    for _ in range(args.rounds):
        fresh = open_hub(home, url)
        t = time.perf_counter()
        board = fresh.leaderboards.get(None, "big", metadata=False)
        cold.append(time.perf_counter() - t)
        for _ in range(3):
            t = time.perf_counter()
            fresh.leaderboards.get(None, "big", metadata=False)
            warm.append(time.perf_counter() - t)
        page = FrontPage(fresh, Sessions(fresh))
        t = time.perf_counter()
        html = page.listing(None, "", False)
        front.append(time.perf_counter() - t)
        fresh.close()
    assert len(board.rows) >= args.big and html.count("pg0") >= 1
    rss = psutil.Process().memory_info().rss / 2**20
    return {
        "backend": label,
        "fill_s": fill_s,
        "submit": summary(submit),
        "cold": summary(cold),
        "warm": summary(warm),
        "front": summary(front),
        "rows": len(board.rows),
        "rss_mib": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--playgrounds", type=int, default=1000)
    parser.add_argument("--submissions", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=30, help="submits timed")
    parser.add_argument("--rounds", type=int, default=5, help="fresh hubs: cold boards and front pages")
    args = parser.parse_args()
    results = []
    root = Path(tempfile.mkdtemp(prefix="aims-bench-registry-"))
    try:
        results.append(measure("SQLite", None, root / "sqlite", args))
        pg_folder = Path(tempfile.mkdtemp(prefix="aims-pg-"))
        with PostgresServer(pg_folder) as pg:
            results.append(measure("PostgreSQL 15", pg.create_database("bench"), root / "pg", args))
        shutil.rmtree(pg_folder, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"\n{args.playgrounds:,} playgrounds, {args.submissions:,} submissions, a board of {args.big:,} "
        f"entries; {args.repeat} submits, {args.rounds} fresh hubs; medians and p99 in ms\n"
    )
    print(
        f"| backend | submit accepted | board cold | board warm | front page ({args.playgrounds:,} listed) "
        "| fill (s) |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        cells = [f"{r[k][0]:.1f} (p99 {r[k][1]:.1f})" for k in ("submit", "cold", "warm", "front")]
        print(f"| {r['backend']} | {' | '.join(cells)} | {r['fill_s']:.0f} |")
    sqlite, pg = results
    print(
        "\nPostgreSQL / SQLite (medians): "
        + ", ".join(f"{k} {pg[k][0] / sqlite[k][0]:.2f}x" for k in ("submit", "cold", "warm", "front"))
    )
    print(f"resident size of the process after both: {results[-1]['rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
