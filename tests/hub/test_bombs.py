"""Decompression bombs against the real hub and its model server: one per table format and per
media decoder, each refused with a 4xx naming the limit, with the peak memory of the hub process
and of the Serve replicas measured (their high-water mark is reset first) and bounded."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psutil
import pytest

from aims_spaces.hub.testing import HubProcess
from tests.core.test_media_limits import png_declaring, sound, video
from tests.core.test_table_limits import dictionary_bomb

pytestmark = [pytest.mark.hub, pytest.mark.slow]

PEAK_MB = 300  # what one refused bomb may add to a process's peak memory


def _reset_peak(pids: list[int]) -> dict[int, int]:
    """Reset each process's peak RSS (Linux clear_refs 5) and return its RSS now, in KiB."""
    now = {}
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        now[pid] = _status(pid, "VmRSS")
    return now


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _peak_growth_mb(before: dict[int, int]) -> dict[int, float]:
    return {pid: (_status(pid, "VmHWM") - rss) / 1024 for pid, rss in before.items()}


def _replicas(hub: HubProcess) -> list[int]:
    return [p.pid for p in hub.descendants() if "ServeReplica" in " ".join(p.cmdline())]


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def test_table_bombs_are_refused_by_the_hub_in_bounded_memory(hub, users):
    owner = users("bomber")
    too_many_rows = _parquet(pd.DataFrame({"x": np.zeros(1_100_000, np.int8)}))
    bombs = {
        "a repeated string (2 GB decoded)": (dictionary_bomb(), "AIMS_MAX_TABLE_MB"),
        "1.1 million rows": (too_many_rows, "AIMS_MAX_TABLE_ROWS"),
        "3,000 columns": (_parquet(pd.DataFrame(np.zeros((2, 3000)))), "AIMS_MAX_TABLE_COLUMNS"),
    }
    labels = _parquet(pd.DataFrame({"label": ["a", "b"] * 2}))
    assert hub.proc is not None
    before = _reset_peak([hub.proc.pid])
    for what, (data, setting) in bombs.items():
        r = httpx.post(
            f"{hub.url}/api/playgrounds",
            headers={"Authorization": f"Bearer {owner.token}"},
            data={"spec": json.dumps({"name": "bomb", "task_type": "classification"})},
            files={"eval_labels": ("l.parquet", labels), "eval_features": ("f.parquet", data)},
            timeout=120,
        )
        assert r.status_code == 422, (what, r.status_code, r.text[:300])
        assert setting in r.json()["error"]["message"], (what, r.json())
    growth = _peak_growth_mb(before)[hub.proc.pid]
    assert growth < PEAK_MB, f"the hub's peak memory grew by {growth:.0f} MB"
    assert (
        httpx.get(
            f"{hub.url}/api/playgrounds/bomb", headers={"Authorization": f"Bearer {owner.token}"}
        ).status_code
        == 404
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_media_bombs_are_refused_by_the_model_server_in_bounded_memory(hub, demos):
    wav = sound(np.zeros((800, 2), np.float32), 8000)
    many_channels = bytearray(wav)
    at = many_channels.find(b"fmt ") + 8 + 2
    many_channels[at : at + 2] = (1000).to_bytes(2, "little")  # the header claims 1,000 channels
    bombs = {
        "digits": {
            "a PNG declaring 10 gigapixels": (png_declaring(100_000, 100_000, b"x\x9c" + b"\x00" * 64), 422),
        },
        "tones": {
            "a WAV claiming 1,000 channels": (bytes(many_channels), 422),
            "a file that is not a sound": (b"RIFF" + b"\x00" * 100, 422),
        },
        "motion": {
            "an 8K video": (video(7680, 4320, 1, fmt="mp4"), 422),
            "an HLS playlist pointing at the hub's files": (
                b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n",
                422,
            ),
            "an ffconcat list": (b"ffconcat version 1.0\nfile 'registry.db'\n", 422),
        },
    }
    replicas = _replicas(hub)
    assert replicas, "the model server runs"
    before = _reset_peak(replicas)
    for playground, cases in bombs.items():
        for what, (data, status) in cases.items():
            r = httpx.post(f"{hub.serve_url}/{playground}/predict", json={"inputs": [_b64(data)]}, timeout=60)
            assert r.status_code == status, (playground, what, r.status_code, r.text[:300])
            message = r.json()["error"]["message"]
            assert "/etc/passwd" not in message and "registry.db" not in message
    # A body over the endpoint's limit is refused from its length, before it is read.
    big = httpx.post(
        f"{hub.serve_url}/digits/predict",
        content=b"{" + b" " * (33 * 2**20) + b"}",
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert big.status_code == 413 and "AIMS_MAX_PREDICT_MB" in big.json()["error"]["message"]
    # A CSV of more rows than the hub takes, to a tabular playground.
    csv = b"a,b,c,d\n" + b"1,2,3,4\n" * 1_100_000
    r = httpx.post(f"{hub.serve_url}/iris/predict", files={"file": ("rows.csv", csv)}, timeout=60)
    assert r.status_code == 422 and "AIMS_MAX_TABLE_ROWS" in r.json()["error"]["message"], r.text[:300]
    growth = _peak_growth_mb(before)
    assert max(growth.values()) < PEAK_MB, f"a replica's peak memory grew by {max(growth.values()):.0f} MB"
    assert psutil.pid_exists(replicas[0])
