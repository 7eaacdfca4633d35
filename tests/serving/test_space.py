"""A playground exported with `aims export-space` runs as a Space: `python app.py` in the folder
serves the demo and the REST prediction on one port, offline, with no hub behind it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from aims_spaces.hub.testing import ROOT, free_port

pytestmark = pytest.mark.hub


def test_an_exported_space_answers_its_demo_and_rest_on_one_port(hub, admin, demos, iris, tmp_path):
    folder = tmp_path / "iris-space"
    env = {**os.environ, "AIMS_HUB_URL": hub.url, "AIMS_TOKEN": admin.token}
    done = subprocess.run(
        [sys.executable, "-m", "aims_spaces", "export-space", "iris", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "app.py",
        "examples.parquet",
        "model.onnx",
        "requirements.txt",
        "space.json",
    ]
    front = (folder / "README.md").read_text().split("---")[1]
    assert "sdk: gradio" in front and "app_file: app.py" in front
    assert (folder / "requirements.txt").read_text().startswith("aims-spaces==")  # not the hub extra
    again = subprocess.run(
        [sys.executable, "-m", "aims_spaces", "export-space", "iris", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 1 and "not an empty folder" in again.stderr

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    space_env = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "PYTHONPATH": str(ROOT),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    space_env.pop("AIMS_HUB_URL", None)
    log = open(tmp_path / "space.log", "wb")
    # Run as the Space would, where only requirements.txt is installed: none of the hub's packages.
    without_hub = (
        "import runpy, sys\n"
        "for name in ('ray', 'sqlalchemy', 'alembic', 'datasets', 'aims_spaces.hub', 'apps', 'evaluators'):\n"
        "    sys.modules[name] = None\n"
        "runpy.run_path('app.py', run_name='__main__')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", without_hub], cwd=folder, env=space_env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "space.log").read_text()
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the Space did not start"
            time.sleep(0.3)
        rows = {"rows": iris["X_test"].head(3).to_dict("records")}
        on_hub = httpx.post(f"{hub.serve_url}/iris/predict", json=rows).json()
        here = httpx.post(f"{url}/predict", json=rows)
        assert here.status_code == 200 and here.json() == on_hub
        assert httpx.post(f"{url}/iris/predict", json=rows).json() == on_hub
        bad = httpx.post(f"{url}/predict", json={"rows": [{"sepal length (cm)": 5.1}]})
        assert bad.status_code == 422 and "missing column(s)" in bad.json()["error"]["message"]
        from serving.space import MAX_BODY_BYTES

        big = httpx.post(f"{url}/predict", content=b" " * (MAX_BODY_BYTES + 1), timeout=60)
        assert big.status_code == 413 and "larger than" in big.json()["error"]["message"]

        label = Client(url, verbose=False).predict(
            *[str(v) for v in iris["X_test"].iloc[0]], api_name="/predict"
        )
        assert label["label"] == str(on_hub["predictions"][0])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_a_spaces_media_inputs_take_only_files_uploaded_to_it(tmp_path):
    """Gradio's media models take a path with no "meta" (so no upload check of Gradio's): the
    exported Space's inputs hand on only files in Gradio's upload folder, within the size limit."""
    import gradio as gr
    from gradio.data_classes import FileData

    from serving.space import MAX_BODY_BYTES, _uploaded_only

    for component in (
        gr.Image(type="filepath"),
        gr.Audio(type="filepath", format=None),
        gr.Video(format=None),
    ):
        take = _uploaded_only(component).preprocess
        for outside in ("/etc/hostname", "/dev/zero", str(tmp_path / "x.png")):
            with pytest.raises(gr.Error, match="Upload the file from this page"):
                take(FileData(path=outside))
        uploaded = Path(component.GRADIO_CACHE) / "space-test" / "ok.bin"
        uploaded.parent.mkdir(parents=True, exist_ok=True)
        uploaded.write_bytes(b"x")
        assert take(FileData(path=str(uploaded))) == str(uploaded.resolve())
        with open(uploaded, "wb") as f:
            f.truncate(MAX_BODY_BYTES + 1)
        with pytest.raises(gr.Error, match="larger than"):
            take(FileData(path=str(uploaded)))
        uploaded.unlink()
        assert take(None) is None
