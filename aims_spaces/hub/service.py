"""The hub's service layer in one object: registry, stores and the services over them.

``Hub.open(settings)`` needs no Ray and no web server, so the business rules can be exercised on
their own (the fast tests in ``tests/hub`` do, with in-process evaluation and serving);
:mod:`aims_spaces.hub.server` adds Ray and HTTP around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from .accounts import Accounts, LoginLimiter
from .deployments import Deployments
from .editing import Editing
from .evaldata import EvalDataRepo
from .invitations import Invitations
from .leaderboards import Leaderboards
from .playgrounds import Playgrounds
from .registry import Registry
from .settings import Settings
from .storage import ArtifactStore, private_folder
from .submissions import Submissions
from .teams import Teams
from .training_data import TrainingData


@dataclass
class Hub:
    """The services over one registry, artifact store and eval-data repo. Evaluations and
    deployments start through the queue and deployer attached to ``submissions`` and
    ``deployments`` (:meth:`Submissions.attach_queue`, :meth:`Deployments.attach_deployer`)."""

    settings: Settings
    registry: Registry
    store: ArtifactStore
    evaldata: EvalDataRepo
    accounts: Accounts
    playgrounds: Playgrounds
    submissions: Submissions
    leaderboards: Leaderboards
    deployments: Deployments
    teams: Teams
    invitations: Invitations
    editing: Editing
    training_data: TrainingData

    @classmethod
    def open(cls, settings: Settings) -> Hub:
        private_folder(settings.home)  # labels, credentials and the registry live there
        registry = Registry(settings.resolved_database_url)
        registry.migrate()
        store = ArtifactStore(settings.resolved_artifact_url)
        evaldata = EvalDataRepo(settings.resolved_evaldata_url)
        _separate(store, evaldata)
        evaldata.prepare()
        playgrounds = Playgrounds(registry, evaldata, settings, store)
        submissions = Submissions(registry, store, evaldata, playgrounds, settings)
        accounts = Accounts(
            registry,
            token_ttl=timedelta(days=settings.token_ttl_days),
            session_ttl=timedelta(hours=settings.session_ttl_hours),
            limiter=LoginLimiter(
                settings.login_failures_per_user, settings.login_failures_per_ip, settings.login_window_s
            ),
        )
        return cls(
            settings=settings,
            registry=registry,
            store=store,
            evaldata=evaldata,
            accounts=accounts,
            playgrounds=playgrounds,
            submissions=submissions,
            leaderboards=Leaderboards(registry, playgrounds),
            deployments=Deployments(registry, playgrounds, evaldata),
            teams=Teams(registry, playgrounds, submissions),
            invitations=Invitations(registry, playgrounds, accounts, settings),
            editing=Editing(registry, playgrounds, submissions, evaldata),
            training_data=TrainingData(registry, playgrounds, evaldata, settings),
        )

    def clean_up_after_crash(self) -> None:
        """Remove what a crashed run left half-written in the two stores (see
        :meth:`ArtifactStore.clean_tmp`, :meth:`EvalDataRepo.clean_tmp`), and what it left whole
        but unnamed by any row (:mod:`aims_spaces.hub.leftovers`).

        Only for the process that holds the home's lock (the hub's server, at its start, before
        it serves): to anyone else, the running hub's writes in flight look the same. ``open``
        does not do it, so a tool or a single-playground app may open a hub's home beside it.
        """
        self.store.clean_tmp()
        self.evaldata.clean_tmp()
        self.playgrounds.leftovers.settle_all()  # what a crash left without a row naming it
        for leftover in Path(self.settings.home).glob(".tmp-*"):  # write_file's, for its records
            if leftover.is_file():
                leftover.unlink(missing_ok=True)

    def close(self) -> None:
        self.registry.dispose()


def _separate(store: ArtifactStore, evaldata: EvalDataRepo) -> None:
    """Refuse one store inside the other: each start's clean-up of the one would take the other's
    files for its own leftovers."""
    if type(store.fs) is not type(evaldata.fs):
        return
    a, b = f"{store.root.rstrip('/')}/", f"{evaldata.root.rstrip('/')}/"
    if a.startswith(b) or b.startswith(a):
        raise ValueError(
            f"AIMS_ARTIFACT_URL ({store.url}) and AIMS_EVALDATA_URL ({evaldata.url}) must be "
            "separate folders, neither inside the other"
        )
