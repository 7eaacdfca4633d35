"""Export one playground's runtime model as a standalone Hugging Face Space folder.

The folder runs with ``python app.py`` (``serving.space`` of the hub package): the demo and the
REST prediction on one port, offline, with no hub behind it. Only what a visitor of the
playground may see goes in: its description, the deployed version's model (and preprocessor),
the example rows — never eval labels or features.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..core.tabular import frame_to_parquet
from ..errors import InvalidInput

if TYPE_CHECKING:
    from .playground import ModelPlayground

APP = '''"""{name}: a model from an aims_spaces playground, served with its demo on one port."""

from serving.space import main

if __name__ == "__main__":
    main(__file__)
'''

README = """---
title: {title}
sdk: gradio
sdk_version: {gradio}
app_file: app.py
pinned: false
---

# {name}

{description}

Version {version} of the playground `{name}` (exported from {hub} on {date}).

- The demo is at `/`; its Gradio API endpoint is `/predict`.
- REST: `POST /predict` with `{{"rows": [{{"<column>": value, ...}}]}}` answers
  `{{"predictions": [...], "probabilities": [...], "model_version": {version}}}`, as the hub's
  prediction endpoint does.

Run it anywhere with `pip install -r requirements.txt` and `python app.py` (port 7860).
"""

# What serving.space imports beyond the package's own dependencies: not the hub extra (Ray,
# SQLAlchemy, datasets), which tests/serving/test_space.py keeps out of the running Space.
PINNED = ("gradio", "onnxruntime", "numpy", "pandas", "fastapi", "uvicorn", "orjson")


def _requirements() -> str:
    lines = [f"aims-spaces=={__version__}"]
    for package in PINNED:
        try:
            lines.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return "\n".join(lines) + "\n"


def export_space(pg: ModelPlayground, folder: str | Path) -> Path:
    """Write the Space folder for ``pg``'s deployed model into ``folder`` (new or empty)."""
    out = Path(folder)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInput(f"{out} exists and is not an empty folder; pick a new one")
    info = pg.get_info()
    deployment = pg.get_deployment()
    version = deployment.version
    sub = pg._get_submission_info(version)
    path = pg._path(f"/submissions/{int(version)}")
    model = pg.client.request("GET", f"{path}/model", raw=True)
    preprocessor = (
        pg.client.request("GET", f"{path}/preprocessor", raw=True) if sub.has_preprocessor else None
    )
    examples = pg.get_example_data()
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    meta = {
        "name": info.name,
        "description": info.description or "",
        "version": version,
        "signature": info.signature.model_dump(mode="json"),
        "hub": pg.client.url,
        "exported_at": now.isoformat(timespec="seconds"),
    }
    (out / "space.json").write_text(json.dumps(meta, indent=2))
    (out / "model.onnx").write_bytes(model)
    if preprocessor is not None:
        (out / "preprocessor.json").write_bytes(preprocessor)
    if not examples.empty:
        (out / "examples.parquet").write_bytes(frame_to_parquet(examples))
    (out / "app.py").write_text(APP.format(name=info.name))
    (out / "requirements.txt").write_text(_requirements())
    try:
        gradio = metadata.version("gradio")
    except metadata.PackageNotFoundError:
        gradio = "6.0.0"
    first_line = (info.description or "").strip().splitlines()[0] if (info.description or "").strip() else ""
    (out / "README.md").write_text(
        README.format(
            title=json.dumps(info.name),
            gradio=gradio,
            name=info.name,
            description=first_line,
            version=version,
            hub=pg.client.url,
            date=now.date().isoformat(),
        )
    )
    return out
