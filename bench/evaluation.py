"""How fast does a submission become a leaderboard row?

Side by side, in one run, on a 10,000-row eval set (generated, 20 features, 3 classes):

* ours: ``submit_model`` of an ONNX model over REST until the scored row is readable (the
  hub's long poll), sequentially, and then 50 submissions at once;
* the in-process limit: the evaluator's own work (``run_job``) called directly, data cached;
* the obvious alternative: a stateless evaluator that loads the eval data for each submission
  (as a serverless function would), called directly.

Run with ``make bench`` (or ``python bench/evaluation.py --runs 40``). Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from aims_spaces import ModelPlayground
from aims_spaces.client.conversion import convert
from aims_spaces.client.http import HubClient
from aims_spaces.hub.testing import HubProcess


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {pct(ms, 95):.1f} | {pct(ms, 99):.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--burst", type=int, default=50)
    args = parser.parse_args()

    X, y = make_classification(
        n_samples=args.rows + 5000, n_features=20, n_informative=10, n_classes=3, random_state=0
    )
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    X_train, X_test, y_train, y_test = X.iloc[:5000], X.iloc[5000:], y[:5000], y[5000:]
    clf = LogisticRegression(max_iter=1000).fit(X_train, y_train)

    home = Path(tempfile.mkdtemp(prefix="aims-bench-")) / "home"
    with HubProcess(home).start() as hub:
        client = HubClient(hub.url, token=hub.admin_token)
        pg = ModelPlayground(input_type="tabular", task_type="classification", name="bench", client=client)
        pg.create(eval_data=y_test, eval_features=X_test, y_train=y_train)
        info = pg.info
        t0 = time.perf_counter()
        onnx = convert(clf, info.signature, sample=X_test).onnx
        convert_s = time.perf_counter() - t0
        preds = clf.predict(X_test)

        pg.submit_model(model=onnx, prediction_submission=preds).wait()  # first-use costs out of the way
        e2e, with_convert, inside = [], [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            sub = pg.submit_model(model=onnx, prediction_submission=preds).wait()
            e2e.append(time.perf_counter() - t)
            inside.append(sub.info.evaluated_by["seconds"])
        for _ in range(max(5, args.runs // 3)):
            t = time.perf_counter()
            pg.submit_model(model=clf, prediction_submission=preds).wait()
            with_convert.append(time.perf_counter() - t)

        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.burst) as pool:
            subs = list(
                pool.map(
                    lambda _: pg.submit_model(model=onnx, prediction_submission=preds), range(args.burst)
                )
            )
        accepted = time.perf_counter() - t
        for s in subs:
            s.wait(timeout=600)
        burst_s = time.perf_counter() - t

        # The evaluator's own work, in this process, on the same stored job.
        from sqlalchemy import select

        from aims_spaces.hub.registry import PlaygroundRow, SubmissionRow
        from aims_spaces.hub.service import Hub
        from aims_spaces.hub.settings import Settings
        from evaluators import jobs

        local = Hub.open(Settings(home=home))
        with local.registry.session() as s:
            row = s.scalars(select(SubmissionRow).order_by(SubmissionRow.id.desc())).first()
            pg_row = s.get(PlaygroundRow, row.playground_id)
            job = local.submissions._job(pg_row, row)
        local.close()
        jobs.run_job(job)
        cached, stateless = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            jobs.run_job(job)
            cached.append(time.perf_counter() - t)
        for _ in range(args.runs):
            jobs._cache.clear()
            t = time.perf_counter()
            jobs.run_job(job)
            stateless.append(time.perf_counter() - t)

    med = statistics.median
    print(f"### Submission to scored row — {args.rows:,}-row eval set, {os.cpu_count()} cores\n")
    print("| path | n | median ms | p95 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    print(summary("ours: ONNX upload → scored row over REST (Ray evaluator)", e2e))
    print(summary("ours: scikit-learn object → converted, uploaded, scored", with_convert))
    print(summary("evaluator time inside the Ray task (reported by the hub)", inside))
    print(summary("in-process limit: evaluator work called directly, data cached", cached))
    print(summary("alternative: stateless evaluator, loads eval data per submission", stateless))
    print()
    print(f"- client-side conversion of the LogisticRegression alone: {convert_s * 1000:.0f} ms")
    print(
        f"- ours / in-process limit (median): {med(e2e) / med(cached):.1f}×; "
        f"stateless alternative / in-process limit: {med(stateless) / med(cached):.1f}×"
    )
    print(
        f"- {args.burst} submitted at once: all accepted in {accepted:.2f} s, all scored in "
        f"{burst_s:.2f} s → {args.burst / burst_s * 60:.0f} scored submissions per minute"
    )
    print(
        f"- target: median under 1 s from upload to leaderboard row — "
        f"{'met' if med(e2e) < 1 else 'NOT met'} ({med(e2e) * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
