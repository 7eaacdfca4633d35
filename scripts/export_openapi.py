"""Write the hub's OpenAPI document to docs/openapi.json (a test checks it is current)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from aims_spaces.hub import Hub
from aims_spaces.hub.api import create_app
from aims_spaces.hub.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def openapi_text() -> str:
    with tempfile.TemporaryDirectory() as home:
        hub = Hub.open(Settings(home=home))
        try:
            spec = create_app(hub).openapi()
        finally:
            hub.close()
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    DOC.write_text(openapi_text())
    print(f"wrote {DOC}", file=sys.stderr)
