"""The docs keep up with the code."""

import importlib.util
import re
from pathlib import Path

import httpx
import pytest

from aims_spaces.hub.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_openapi_copy_is_current():
    spec = importlib.util.spec_from_file_location("export_openapi", ROOT / "scripts" / "export_openapi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "openapi.json").read_text() == module.openapi_text(), (
        "docs/openapi.json is stale: run `python scripts/export_openapi.py`"
    )


def test_readme_quickstart_and_settings_table():
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("##", 1)[0]
    assert re.findall(r"^make \w+", quickstart, flags=re.M) == ["make run", "make test"]
    for field in Settings.model_fields:
        assert f"`AIMS_{field.upper()}`" in readme, f"README's settings table lacks AIMS_{field.upper()}"


@pytest.mark.hub
def test_the_hub_serves_its_openapi_and_docs(hub):
    assert httpx.get(f"{hub.url}/docs").status_code == 200
    live = httpx.get(f"{hub.url}/openapi.json").json()
    assert "/api/playgrounds/{name}/submissions" in live["paths"]
