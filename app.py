"""Spaces-style entry point: `python app.py` starts the hub on embedded defaults."""

from aims_spaces.hub.server import run

if __name__ == "__main__":
    run()
