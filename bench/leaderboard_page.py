"""A 5,000-submission leaderboard in the browser, side by side in one run:

- ours: a playground page, from ``page.goto`` to the board's rows on screen (each load in a fresh
  browser context, nothing cached), and ticking *Show all* until all 5,000 rows are drawn;
- the obvious alternative: a bare Gradio page holding the same 1,000-row table and nothing else;
- the in-process limit: building that table from the registry in the hub's own code, cold
  (a new service object) and warm (the board cache).

Playwright drives Debian's Chromium (`make test` installs it) on the same cores as the hub,
Ray and Serve. Prints a Markdown table for docs/benchmarks.md.

    .venv/bin/python bench/leaderboard_page.py [--loads 7]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `apps` and `tests` from a checkout

import numpy as np  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from aims_spaces import ModelPlayground  # noqa: E402
from aims_spaces.client import HubClient  # noqa: E402
from aims_spaces.hub.testing import HubProcess, copy_scored_submission  # noqa: E402
from tests.apps.conftest import ARGS, CHROMIUM  # noqa: E402

ROWS = 5000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), float(np.percentile(times, 99))


def load_times(browser, url: str, rows_text: str, loads: int, tab: str | None) -> list[float]:
    times = []
    for _ in range(loads):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url)
        if tab:
            page.get_by_role("tab", name=tab).click()
        grid = page.get_by_role("grid").filter(has_text=rows_text).locator("visible=true").first
        expect(grid).to_be_visible(timeout=60_000)
        times.append(time.perf_counter() - start)
        context.close()
    return times


def show_all_times(browser, url: str, loads: int) -> list[float]:
    times = []
    for _ in range(loads):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(url)
        page.get_by_role("tab", name="Experiments").click()
        expect(page.get_by_text(f"The top 1,000 of {ROWS:,} scored submissions")).to_be_visible(
            timeout=60_000
        )
        start = time.perf_counter()
        page.get_by_label("Show all submissions").check()
        expect(page.get_by_text(f"{ROWS:,} scored submissions.")).to_be_visible(timeout=60_000)
        times.append(time.perf_counter() - start)
        context.close()
    return times


def in_process(home: Path, name: str, loads: int) -> tuple[list[float], list[float]]:
    from aims_spaces.hub import Hub, Settings
    from apps import tables

    cold, warm = [], []
    for _ in range(loads):
        hub = Hub.open(Settings(home=home))
        try:
            start = time.perf_counter()
            board = hub.leaderboards.get(None, name, metadata=False)
            tables.board_frame(board, details=False, serving_version=None).head(1000)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            board = hub.leaderboards.get(None, name, metadata=False)
            tables.board_frame(board, details=False, serving_version=None).head(1000)
            warm.append(time.perf_counter() - start)
        finally:
            hub.close()
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from apps import tables

    work = Path(tempfile.mkdtemp(prefix="aims-bench-board-"))
    with HubProcess(work / "home") as hub:
        hub.start()
        client = HubClient(hub.url, token=hub.admin_token)
        data = load_iris(as_frame=True)
        y = data.target.map(dict(enumerate(data.target_names)))
        pg = ModelPlayground(
            input_type="tabular", task_type="classification", name="bench-big", client=client
        )
        pg.create(eval_data=y, eval_features=data.data)
        model = LogisticRegression(max_iter=1000).fit(data.data, y)
        pg.submit_model(model=model, description="v-bulk 1").wait()
        copy_scored_submission(hub.home, pg.name, "v-bulk 1", ROWS)
        url = f"{hub.url}/p/{pg.name}/"

        cold, warm = in_process(hub.home, pg.name, args.loads)
        from aims_spaces.hub import Hub, Settings

        service = Hub.open(Settings(home=hub.home))
        frame = tables.board_frame(
            service.leaderboards.get(None, pg.name, metadata=False), details=False, serving_version=None
        ).head(1000)
        service.close()
        with gr.Blocks() as bare:
            gr.Dataframe(value=frame, interactive=False, max_height=600)
        port = free_port()
        bare.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                load_times(browser, url, "v-bulk", 1, "Experiments")  # warm the server once
                ours = load_times(browser, url, "v-bulk", args.loads, "Experiments")
                plain = load_times(browser, f"http://127.0.0.1:{port}/", "v-bulk", args.loads, None)
                everything = show_all_times(browser, url, args.loads)
                browser.close()
        finally:
            bare.close()

    rows = [
        ("ours: page open → top 1,000 rows visible", ours),
        ("a bare Gradio page with the same 1,000-row table", plain),
        ("ours: ticking *Show all* → all 5,000 rows visible", everything),
        ("in-process: the 1,000-row table from the registry, cold", cold),
        ("in-process: the same, warm (board cache)", warm),
    ]
    print(f"### A {ROWS:,}-submission board, {args.loads} loads each, {os.cpu_count()} cores\n")
    print("| what | median | p99 |\n|---|---:|---:|")
    for label, times in rows:
        median, p99 = summary(times)
        print(f"| {label} | {median:.2f} s | {p99:.2f} s |")
    print(
        f"\nours / bare Gradio page: {statistics.median(ours) / statistics.median(plain):.2f}× (median); "
        f"loads: {', '.join(f'{t:.2f}' for t in ours)} s"
    )


if __name__ == "__main__":
    main()
