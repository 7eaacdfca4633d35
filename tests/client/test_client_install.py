"""`pip install aims-spaces` with no extras, in a clean venv, gives a working client: it converts
and submits a scikit-learn model to the session's hub and reads the board back, with no Ray,
Gradio or SQLAlchemy installed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.hub, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

CLIENT_SCRIPT = textwrap.dedent(
    """
    import importlib.util, os, sys
    absent = [m for m in ("ray", "gradio", "sqlalchemy", "fastapi", "uvicorn", "datasets", "alembic", "torch")
              if importlib.util.find_spec(m) is not None]
    assert not absent, f"a client install pulled in {absent}"

    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split
    import aims_spaces
    from aims_spaces import ModelPlayground, OnnxPredictor

    data = load_iris(as_frame=True)
    y = data.target.map(dict(enumerate(data.target_names)))
    X_train, X_test, y_train, y_test = train_test_split(data.data, y, test_size=0.3, random_state=0)
    client = aims_spaces.login(os.environ["HUB_URL"], os.environ["HUB_TOKEN"])
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="client-only", client=client)
    pg.create(eval_data=y_test, eval_features=X_test, y_train=y_train)
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X_train, y_train)
    sub = pg.submit_model(model=model, prediction_submission=model.predict(X_test)).wait()
    board = pg.get_leaderboard()
    assert board["verified"].all() and board["accuracy"].iloc[0] > 0.8, board
    local = pg.instantiate_model(sub.version, prefer="onnx")
    assert isinstance(local, OnnxPredictor) and list(local.predict(X_test)) == list(model.predict(X_test))
    original = pg.instantiate_model(sub.version)
    assert type(original).__name__ == "RandomForestClassifier"
    print("client ok", aims_spaces.__version__, round(float(board["accuracy"].iloc[0]), 3))
    """
)


def test_a_plain_install_is_a_working_client(tmp_path, hub, users):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The lock keeps the versions the rest of the suite runs with (it constrains, it adds nothing).
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-compile", "--disable-pip-version-check", "-q",
         "-c", str(ROOT / "requirements" / "dev.txt"), str(ROOT)],
        check=True,
        cwd=tmp_path,
    )  # fmt: skip
    token = users("clara").token
    env = {**os.environ, "HUB_URL": hub.url, "HUB_TOKEN": token, "AIMS_CONFIG_DIR": str(tmp_path / "cfg")}
    env.pop("PYTHONPATH", None)
    out = subprocess.run(
        [str(python), "-c", CLIENT_SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "client ok" in out.stdout
    # The hub is not part of it, and `aims serve` says so in one line.
    serve = subprocess.run([str(venv / "bin" / "aims"), "serve"], env=env, capture_output=True, text=True)
    assert serve.returncode != 0 and 'pip install "aims-spaces[hub]"' in serve.stderr, serve.stderr[-2000:]
