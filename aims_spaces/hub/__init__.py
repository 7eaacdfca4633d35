"""The hub: its service layer (every business rule) and what the service stands on and is served
through.

=================  ==================================================================
settings           one ``Settings`` object, read from ``AIMS_*`` variables
registry           SQLAlchemy rows and sessions; ``migrations/`` builds the schema
storage, evaldata  content-addressed artifacts; the private eval-data repo (labels)
auth, accounts     password and token hashes; users, logins, tokens
access             who may do what with a playground
competition        the competition's rules as pure functions (open/closed, who sees
                   which split when, quotas and the day window, which rows rank)
playgrounds, submissions, leaderboards, deployments   the services
service            ``Hub``: the services wired over one registry and store
api                the REST API, a thin FastAPI shell over the services
server             the wiring: Ray evaluators, Ray Serve deployer, uvicorn, web apps
=================  ==================================================================

Only :mod:`.server` imports Ray, the evaluators, the serving package or the web apps (CI checks
it); :class:`Hub` runs with no Ray and no web server. ``Hub`` and ``Settings`` load on first use,
so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import Hub
    from .settings import Settings

__all__ = ["Hub", "Settings"]


def __getattr__(name: str) -> Any:
    if name == "Hub":
        from .service import Hub

        return Hub
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
