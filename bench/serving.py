"""Prediction serving, side by side in one run: the hub's Ray Serve endpoint vs a minimal
hand-written async FastAPI + onnxruntime server vs onnxruntime called in-process (the limit).

A bare Ray Serve deployment (parse, run, answer; nothing else) on the hub's own Serve ingress
shows the ceiling any Ray Serve endpoint reaches here.

Load comes from `wrk` (Debian's package: a C load generator, so the client does not eat the 2
cores). Tabular: single-row JSON requests at concurrency 1, 8 and 32, then 1,000-row requests.
Image: one 64×64 PNG per request as base64 JSON, a small PyTorch CNN, concurrency 1, 8 and 32.

    python bench/serving.py [--seconds 10] [--only tabular|image]     # prints Markdown
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would hide the
# `serving` package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import orjson
import pandas as pd
import torch
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from aims_spaces import ModelPlayground
from aims_spaces.client.http import HubClient
from aims_spaces.core import preprocess
from aims_spaces.core.media import encode_image
from aims_spaces.core.onnx_model import OnnxModel
from aims_spaces.core.preprocess import ImageSpec
from aims_spaces.domain import Route
from aims_spaces.hub.testing import HubProcess, free_port
from serving.router import Router

HERE = Path(__file__).resolve().parent


def wrk(url: str, body: str, connections: int, seconds: int) -> dict[str, float]:
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\b", out, re.M)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {
        "rps": rps,
        "p50": ms("50"),
        "p99": ms("99"),
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def in_process(onnx: bytes, x: np.ndarray, seconds: float) -> dict[str, float]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = x.astype(np.float64 if session.get_inputs()[0].type == "tensor(double)" else np.float32)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        session.run(None, {name: x})
        times.append(time.perf_counter() - t)
    return {
        "rps": len(times) / sum(times),
        "p50": statistics.median(times) * 1000,
        "p99": float(np.percentile(times, 99)) * 1000,
    }


def in_process_requests(
    route: Route, onnx: bytes, body: bytes, seconds: float, preprocessor: Any = None
) -> dict[str, float]:
    """The same request handling as the endpoint (parse, validate, run, format, encode), with no
    HTTP and no Serve: the limit for a JSON prediction API."""
    router = Router(lambda token: None)
    model = OnnxModel(onnx, route.signature, preprocessor=preprocessor).load()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        columns, _ = router.parse(route, body)
        orjson.dumps(router.format(route, model.run(columns)))
        times.append(time.perf_counter() - t)
    return {
        "rps": len(times) / sum(times),
        "p50": statistics.median(times) * 1000,
        "p99": float(np.percentile(times, 99)) * 1000,
    }


def start_server(args: list[str], url: str, body: str) -> subprocess.Popen:
    """Start a hand-written server and wait until it answers ``body``."""
    server = subprocess.Popen([sys.executable, *args])
    for _ in range(150):
        try:
            if httpx.post(url, content=body).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"the hand-written server at {url} did not start")


def bare_deployment(hub: HubProcess, onnx: bytes, columns: list[str]) -> str:
    """Deploy, into the hub's own Ray Serve (same HAProxy ingress, same replica resources), a
    bare deployment that only parses the JSON, runs the ONNX model and returns the labels: the
    ceiling for any Ray Serve endpoint on this machine. Returns its route prefix. (The hub's Ray
    wants its token and listens on loopback: this process joins with both.)"""
    os.environ.setdefault("RAY_SERVE_ENABLE_HA_PROXY", "1")
    os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
    os.environ.update(hub.ray_environment())
    import ray
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import Response

    @serve.deployment(
        ray_actor_options={"num_cpus": 0.25},
        max_ongoing_requests=64,
        logging_config={"enable_access_log": False, "log_level": "WARNING"},
    )
    class Bare:
        def __init__(self) -> None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            self.session = ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
            self.input = self.session.get_inputs()[0].name

        async def __call__(self, request: Request) -> Response:
            rows = orjson.loads(await request.body())["rows"]
            x = np.array([[row[c] for c in columns] for row in rows], dtype=np.float64)
            labels = self.session.run(None, {self.input: x})[0]
            return Response(orjson.dumps({"predictions": labels.tolist()}), media_type="application/json")

    ray.init(address=hub.ray_address(), logging_level="WARNING", log_to_driver=False)
    serve.run(Bare.bind(), name="bare", route_prefix="/bare")
    return "/bare"


def served_model(client: HubClient, pg: ModelPlayground, version: int) -> tuple[bytes, Route]:
    """The deployed version's ONNX file and a route like the hub's, for in-process runs."""
    onnx = client.request("GET", f"/api/playgrounds/{pg.name}/submissions/{version}/model", raw=True)
    info = pg.get_info()
    route = Route(
        playground=pg.name,
        version=version,
        model_sha256="0" * 64,
        signature=info.signature,
        private=False,
    )
    return onnx, route


def load_each(urls: dict[str, str], body: str, seconds: int) -> dict[str, dict[int, dict[str, float]]]:
    """wrk against each server in turn, after a short warm-up, at concurrency 1, 8 and 32."""
    results: dict[str, dict[int, dict[str, float]]] = {}
    for name, url in urls.items():
        wrk(url, body, 8, 2)
        results[name] = {c: wrk(url, body, c, seconds) for c in (1, 8, 32)}
    return results


def tabular_http(hub: HubProcess, client: HubClient, seconds: int) -> dict:
    """Deploy an iris classifier and load both servers; in-process limits are measured later."""
    data = load_iris(as_frame=True)
    X, y = data.data, data.target.map(dict(enumerate(data.target_names)))
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    one = json.dumps({"rows": X.head(1).to_dict("records")})
    big_rows = pd.concat([X] * 7, ignore_index=True).head(1000)
    thousand = json.dumps({"rows": big_rows.to_dict("records")})

    pg = ModelPlayground(input_type="tabular", task_type="classification", name="bench", client=client)
    pg.create(eval_data=y, eval_features=X, example_data=X.head(3))
    sub = pg.submit_model(model=clf).wait()
    pg.deploy_model(sub.version)
    onnx, route = served_model(client, pg, sub.version)
    ours_url = f"{hub.serve_url}/bench/predict"
    assert httpx.post(ours_url, content=one).status_code == 200

    work = Path(tempfile.mkdtemp())
    (work / "model.onnx").write_bytes(onnx)
    (work / "classes.json").write_text(json.dumps(list(clf.classes_)))
    (work / "columns.json").write_text(json.dumps(list(X.columns)))
    port = free_port()
    hand_url = f"http://127.0.0.1:{port}/bench/predict"
    server = start_server(
        [
            str(HERE / "handwritten_server.py"),
            str(work / "model.onnx"),
            str(work / "classes.json"),
            str(work / "columns.json"),
            str(port),
        ],
        hand_url,
        one,
    )
    bare_url = f"{hub.serve_url}{bare_deployment(hub, onnx, list(X.columns))}/predict"
    urls = {"ours": ours_url, "bare Ray Serve": bare_url, "hand-written": hand_url}
    try:
        assert len({str(httpx.post(url, content=one).json()["predictions"]) for url in urls.values()}) == 1
        results = load_each(urls, one, seconds)
        big = {name: wrk(urls[name], thousand, 4, seconds) for name in ("ours", "hand-written")}
    finally:
        server.terminate()
        server.wait(10)
    return {
        "X": X,
        "big_rows": big_rows,
        "one": one,
        "thousand": thousand,
        "onnx": onnx,
        "route": route,
        "results": results,
        "big": big,
    }


def tabular_report(t: dict, seconds: int) -> None:
    results, big = t["results"], t["big"]
    limit_one = in_process(t["onnx"], t["X"].head(1).to_numpy(), 3)
    limit_big = in_process(t["onnx"], t["big_rows"].to_numpy(), 3)
    handling_one = in_process_requests(t["route"], t["onnx"], t["one"].encode(), 3)
    handling_big = in_process_requests(t["route"], t["onnx"], t["thousand"].encode(), 3)

    print(f"### Single-row predictions, iris LogisticRegression, wrk -t1, {seconds} s per cell\n")
    print("| server | concurrency | req/s | p50 ms | p99 ms | non-2xx | vs hand-written |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c in (1, 8, 32):
        for name in ("ours", "bare Ray Serve", "hand-written"):
            r = results[name][c]
            ratio = r["rps"] / results["hand-written"][c]["rps"]
            cells = f"{r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['non2xx']}"
            print(f"| {name} | {c} | {cells} | {ratio:.2f}× |")
    print(
        f"| in-process request handling, no HTTP (limit) | 1 | {handling_one['rps']:,.0f} | "
        f"{handling_one['p50']:.3f} | {handling_one['p99']:.3f} | – | – |"
    )
    print(
        f"| in-process onnxruntime call alone | 1 | {limit_one['rps']:,.0f} | {limit_one['p50']:.3f} | "
        f"{limit_one['p99']:.3f} | – | – |"
    )
    print()
    print("### 1,000-row requests (wrk -c4)\n")
    print("| server | req/s | rows/s | p50 ms | p99 ms | in-process handling / this |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ("ours", "hand-written"):
        r = big[name]
        print(
            f"| {name} | {r['rps']:,.1f} | {r['rps'] * 1000:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{handling_big['rps'] / r['rps']:.2f}× |"
        )
    print(
        f"| in-process request handling, no HTTP (limit) | {handling_big['rps']:,.1f} | "
        f"{handling_big['rps'] * 1000:,.0f} | {handling_big['p50']:.2f} | {handling_big['p99']:.2f} | 1× |"
    )
    print(
        f"| in-process onnxruntime call alone | {limit_big['rps']:,.1f} | {limit_big['rps'] * 1000:,.0f} | "
        f"{limit_big['p50']:.2f} | {limit_big['p99']:.2f} | – |"
    )
    c32 = results["ours"][32]["rps"] / results["hand-written"][32]["rps"]
    bare32 = results["bare Ray Serve"][32]["rps"] / results["hand-written"][32]["rps"]
    print()
    print(
        f"- ours / hand-written at concurrency 32: **{c32:.2f}×** (target ≥ 0.8×), "
        f"p99 {results['ours'][32]['p99']:.1f} ms (target < 50 ms); a bare Ray Serve deployment "
        f"on the same ingress: {bare32:.2f}×, so ours is "
        f"{results['ours'][32]['rps'] / results['bare Ray Serve'][32]['rps']:.2f}× of what Ray Serve allows"
    )
    print(
        f"- 1,000-row requests: in-process handling is {handling_big['rps'] / big['ours']['rps']:.2f}× ours "
        "(target: within 2×)"
    )
    worst = min(results["ours"][c]["rps"] for c in (1, 8, 32))
    print(
        f"- lowest throughput over concurrency 1/8/32: {worst:,.0f} req/s; non-2xx responses: "
        f"{sum(results['ours'][c]['non2xx'] for c in (1, 8, 32)) + big['ours']['non2xx']}"
    )


class SmallCNN(torch.nn.Module):
    """Two strided convolutions and a linear head on 64×64 RGB: about 1.4 k parameters."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(8, 16, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
        )
        self.head = torch.nn.Linear(16, classes)

    def forward(self, pixel_values):
        return self.head(self.features(pixel_values).flatten(1))


def colour_images(n: int, side: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy ``side``×``side`` RGB images whose class is the dominant colour channel."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.integers(0, 150, (n, side, side, 3))
    images[np.arange(n), :, :, labels] += 100
    return images.astype(np.uint8), labels


def image_http(hub: HubProcess, client: HubClient, seconds: int) -> dict:
    side = 64
    names = ["red", "green", "blue"]
    X, y = colour_images(300, side)
    spec = ImageSpec(size=(side, side), mode="RGB", layout="NCHW", input="pixel_values")
    cnn = SmallCNN(3)
    torch.manual_seed(0)
    opt = torch.optim.Adam(cnn.parameters(), lr=0.01)
    x = torch.tensor(X.transpose(0, 3, 1, 2) / 255, dtype=torch.float32)
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(cnn(x), torch.tensor(y)).backward()
        opt.step()

    pg = ModelPlayground(input_type="image", task_type="classification", name="bench-image", client=client)
    pg.create(eval_data=[names[i] for i in y[:100]], eval_features=list(X[:100]), example_data=list(X[:2]))
    sub = pg.submit_model(model=cnn, preprocessor=spec, optimizer=opt).wait()
    pg.deploy_model(sub.version)
    onnx, route = served_model(client, pg, sub.version)
    png = encode_image(X[0])
    one = json.dumps({"inputs": [base64.b64encode(png).decode()]})
    ours_url = f"{hub.serve_url}/bench-image/predict"
    assert httpx.post(ours_url, content=one).status_code == 200

    work = Path(tempfile.mkdtemp())
    (work / "model.onnx").write_bytes(onnx)
    (work / "classes.json").write_text(json.dumps(route.signature.classes))
    port = free_port()
    hand_url = f"http://127.0.0.1:{port}/bench-image/predict"
    server = start_server(
        [
            str(HERE / "handwritten_image_server.py"),
            str(work / "model.onnx"),
            str(work / "classes.json"),
            str(side),
            str(port),
        ],
        hand_url,
        one,
    )
    urls = {"ours": ours_url, "hand-written": hand_url}
    try:
        assert len({str(httpx.post(url, content=one).json()["predictions"]) for url in urls.values()}) == 1
        results = load_each(urls, one, seconds)
    finally:
        server.terminate()
        server.wait(10)
    return {
        "onnx": onnx,
        "route": route,
        "spec": spec,
        "one": one,
        "png": png,
        "png_bytes": len(png),
        "results": results,
    }


def image_report(t: dict, seconds: int) -> None:
    results = t["results"]
    prep = preprocess.load(preprocess.document(t["spec"]))
    tensor = prep.feeds([t["png"]])["pixel_values"]
    limit = in_process(t["onnx"], tensor, 3)
    handling = in_process_requests(t["route"], t["onnx"], t["one"].encode(), 3, preprocessor=prep)
    print(
        f"### Single-image predictions, 64×64 RGB PNG ({t['png_bytes']:,} bytes) as base64 JSON, "
        f"a small PyTorch CNN, wrk -t1, {seconds} s per cell\n"
    )
    print("| server | concurrency | req/s | p50 ms | p99 ms | non-2xx | vs hand-written | vs in-process |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c in (1, 8, 32):
        for name in ("ours", "hand-written"):
            r = results[name][c]
            ratio = r["rps"] / results["hand-written"][c]["rps"]
            cells = f"{r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['non2xx']}"
            print(f"| {name} | {c} | {cells} | {ratio:.2f}× | {r['rps'] / handling['rps']:.2f}× |")
    print(
        f"| in-process request handling: base64, PNG decode, preprocess, run, format (limit) | 1 | "
        f"{handling['rps']:,.0f} | {handling['p50']:.3f} | {handling['p99']:.3f} | – | – | 1× |"
    )
    print(
        f"| in-process onnxruntime call alone, tensor ready | 1 | {limit['rps']:,.0f} | {limit['p50']:.3f} | "
        f"{limit['p99']:.3f} | – | – | – |"
    )
    best = max(results["ours"][c]["rps"] for c in (1, 8, 32))
    print()
    print(
        f"- best throughput {best:,.0f} images/s = {best / handling['rps']:.2f}× the in-process limit on one "
        f"core; ours / hand-written at concurrency 32: "
        f"{results['ours'][32]['rps'] / results['hand-written'][32]['rps']:.2f}×, p99 "
        f"{results['ours'][32]['p99']:.1f} ms; non-2xx responses: "
        f"{sum(results['ours'][c]['non2xx'] for c in (1, 8, 32))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", choices=("tabular", "image"), help="run one section")
    parser.add_argument("--env", action="append", default=[], help="AIMS_X=value for the hub, repeatable")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")

    home = Path(tempfile.mkdtemp(prefix="aims-bench-serve-")) / "home"
    env = dict(item.split("=", 1) for item in args.env)
    tab = img = None
    with HubProcess(home, env=env).start() as hub:
        client = HubClient(hub.url, token=hub.admin_token)
        if args.only in (None, "tabular"):
            tab = tabular_http(hub, client, args.seconds)
        if args.only in (None, "image"):
            img = image_http(hub, client, args.seconds)
    # In-process limits run after the hub has stopped, so nothing else competes for the cores.
    if tab is not None:
        tabular_report(tab, args.seconds)
        print()
    if img is not None:
        image_report(img, args.seconds)


if __name__ == "__main__":
    main()
