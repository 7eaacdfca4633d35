"""The Python face of a playground: ``ModelPlayground`` and the ``Submission`` handle.

It talks to the hub only over REST, through :class:`~aims_spaces.client.http.HubClient`, and
delegates conversion to :mod:`.conversion`, local runs to :mod:`.predictor` and tables to
:mod:`aims_spaces.core.frames`. Names follow
Model Share AI's (``create``, ``submit_model``, ``get_leaderboard``, ``compare_models``,
``instantiate_model``) so its users feel at home.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..core import preprocess
from ..core.frames import comparison_frame, highlight_differences, leaderboard_frame
from ..core.media import MEDIA_COLUMNS, frame_for
from ..core.retry import while_loading
from ..core.tabular import frame_to_parquet, parquet_to_frame, to_1d, to_frame
from ..domain import (
    Board,
    DeploymentInfo,
    InputType,
    InvitationInfo,
    Leaderboard,
    PlaygroundInfo,
    PlaygroundSpec,
    QuotaInfo,
    RosterEntry,
    SubmissionInfo,
    SubmissionMeta,
    SubmissionStatus,
    SubmissionType,
    TaskType,
    TeamInfo,
    parse_enum,
)
from ..errors import EvaluationFailed, InvalidEvalData, InvalidModel, InvalidSpec
from .conversion import convert
from .conversion.sklearn import load_skops
from .data import download_data, get_data_info, get_sample_submission, upload_data
from .http import HubClient, default_client
from .predictor import OnnxPredictor

log = logging.getLogger(__name__)

_SAMPLE_ROWS = 500


def _parquet_file(name: str, df: pd.DataFrame) -> tuple[str, tuple[str, bytes, str]]:
    return name, (f"{name}.parquet", frame_to_parquet(df), "application/vnd.apache.parquet")


def _column(values: Any, name: str) -> pd.DataFrame:
    if isinstance(values, pd.DataFrame) and values.shape[1] == 1:
        values = values.iloc[:, 0]
    if isinstance(values, pd.Series):
        return pd.DataFrame({name: values.reset_index(drop=True)})
    return pd.DataFrame({name: to_1d(values, name)})


class Submission:
    """A submitted model version. ``wait()`` blocks until the hub has scored it."""

    def __init__(self, playground: ModelPlayground, info: SubmissionInfo) -> None:
        self.playground = playground
        self.info = info

    @property
    def version(self) -> int:
        return self.info.version

    @property
    def status(self) -> SubmissionStatus:
        return self.info.status

    @property
    def scores(self) -> dict[str, dict[str, float | None]]:
        return self.info.scores

    @property
    def error(self) -> str | None:
        return self.info.error

    def refresh(self, wait: float = 0) -> Submission:
        self.info = self.playground._get_submission_info(self.version, wait=wait)
        return self

    def wait(self, timeout: float = 600) -> Submission:
        """Block until scored. Raises EvaluationFailed if the evaluator refused the model."""
        deadline = time.monotonic() + timeout
        while not self.info.status.finished:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"version {self.version} was not scored within {timeout:.0f} s")
            self.refresh(wait=min(remaining, 30))
        if self.info.status is SubmissionStatus.FAILED:
            raise EvaluationFailed(f"version {self.version} failed evaluation: {self.info.error}")
        return self

    def __repr__(self) -> str:
        return f"Submission({self.playground.name!r}, version={self.version}, status={self.status.value!r})"


class ModelPlayground:
    """One ML task on one dataset, on a hub.

    ``ModelPlayground(name="iris")`` refers to an existing playground; give ``input_type`` and
    ``task_type`` too, then call :meth:`create`, to make a new one.
    """

    def __init__(
        self,
        input_type: str | None = None,
        task_type: str | None = None,
        private: bool = False,
        name: str | None = None,
        *,
        description: str = "",
        eval_metric: str | None = None,
        client: HubClient | None = None,
    ) -> None:
        if not name:
            raise InvalidSpec("give the playground a name, e.g. ModelPlayground(..., name='iris')")
        self.name = name
        self.input_type = input_type
        self.task_type = task_type
        self.private = private
        self.description = description
        self.eval_metric = eval_metric
        self._client = client
        self._info: PlaygroundInfo | None = None
        self._predict_url: str | None = None
        self._sample: pd.DataFrame | None = None
        self._username: str | None = None

    @property
    def client(self) -> HubClient:
        return self._client or default_client()

    @property
    def url(self) -> str:
        return f"{self.client.url}/api/playgrounds/{self.name}"

    def _path(self, suffix: str = "") -> str:
        return f"/api/playgrounds/{self.name}{suffix}"

    def __repr__(self) -> str:
        return f"ModelPlayground(name={self.name!r}, hub={self.client.url!r})"

    # --- create and inspect -------------------------------------------------------------------

    def create(
        self,
        eval_data: Any = None,
        eval_features: Any = None,
        example_data: Any = None,
        y_train: Any = None,
        public_fraction: float = 0.5,
        *,
        eval_labels: Any = None,
        daily_submission_limit: int | None = None,
        competition_deadline: datetime | None = None,
        competition_start: datetime | None = None,
        final_selections: int = 2,
        team_size_limit: int = 4,
        shown_metrics: Sequence[str] | None = None,
    ) -> PlaygroundInfo:
        """Create the playground with its private eval labels (``eval_data``) on the hub.

        Args:
            eval_data: the held-out labels (``eval_labels`` is an alias). They stay on the hub.
            eval_features: the held-out features, so the hub can run submitted models itself.
            example_data: a few rows shown to people and used for the demo.
            y_train: training labels; with ``eval_data`` they fix the ordered class list.
            public_fraction: share of eval rows scored on the public competition board; the
                rest make the private board, hidden until the competition closes.
            final_selections: how many entries each team or participant may select as final
                for the private standing (without a choice, its best public entries count).
            team_size_limit: most members a team may have (1: no teams).
            shown_metrics: the metric columns the boards show beside the ranking metric
                (``eval_metric``); every metric that applies is computed either way.
        """
        labels = eval_labels if eval_labels is not None else eval_data
        if labels is None:
            raise InvalidSpec("give the eval labels: create(eval_data=y_test, ...)")
        input_type = parse_enum(InputType, self.input_type or "tabular", "input_type")
        task_type = parse_enum(TaskType, self.task_type, "task_type")
        spec = PlaygroundSpec(
            name=self.name,
            input_type=input_type.value,
            task_type=task_type.value,
            private=self.private,
            description=self.description,
            eval_metric=self.eval_metric,
            public_fraction=public_fraction,
            daily_submission_limit=daily_submission_limit,
            competition_deadline=competition_deadline,
            competition_start=competition_start,
            final_selections=final_selections,
            team_size_limit=team_size_limit,
            shown_metrics=list(shown_metrics) if shown_metrics is not None else None,
        )
        as_frame = frame_for(input_type, paths=True)  # a participant's own files, on their machine
        files = [_parquet_file("eval_labels", _column(labels, "label"))]
        if eval_features is not None:
            files.append(
                _parquet_file("eval_features", as_frame(eval_features, "eval_features", InvalidEvalData))
            )
        if example_data is not None:
            files.append(
                _parquet_file("example_data", as_frame(example_data, "example_data", InvalidEvalData))
            )
        if y_train is not None:
            files.append(_parquet_file("y_train", _column(y_train, "label")))
        data = self.client.request(
            "POST", "/api/playgrounds", data={"spec": spec.model_dump_json()}, files=files
        )
        self._info = PlaygroundInfo.model_validate(data)
        return self._info

    def get_info(self, refresh: bool = True) -> PlaygroundInfo:
        if refresh or self._info is None:
            self._info = PlaygroundInfo.model_validate(self.client.request("GET", self._path()))
        return self._info

    @property
    def info(self) -> PlaygroundInfo:
        return self.get_info(refresh=False)

    def delete(self) -> None:
        self.client.request("DELETE", self._path())

    def update(
        self,
        *,
        description: str | None = None,
        pages: dict[str, str] | None = None,
        private: bool | None = None,
        eval_metric: str | None = None,
        shown_metrics: Sequence[str] | None = None,
    ) -> PlaygroundInfo:
        """Edit the overview (``description``) and the ``data``/``evaluation``/``rules`` pages
        (Markdown), the visibility, the ranking metric (before the competition starts) or the
        board's metric columns."""
        body = {
            "description": description,
            "pages": pages,
            "private": private,
            "eval_metric": eval_metric,
            "shown_metrics": list(shown_metrics) if shown_metrics is not None else None,
        }
        self._info = PlaygroundInfo.model_validate(self.client.request("PATCH", self._path(), json_body=body))
        return self._info

    def replace_eval_data(
        self, eval_labels: Any = None, eval_features: Any = None, example_data: Any = None
    ) -> PlaygroundInfo:
        """Replace the eval labels (same classes), the eval features and/or the example rows.
        New labels or features have every scored submission scored again."""
        info = self.get_info(refresh=self._info is None)
        as_frame = frame_for(info.input_type, paths=True)
        files = []
        if eval_labels is not None:
            files.append(_parquet_file("eval_labels", _column(eval_labels, "label")))
        if eval_features is not None:
            files.append(
                _parquet_file("eval_features", as_frame(eval_features, "eval_features", InvalidEvalData))
            )
        if example_data is not None:
            files.append(
                _parquet_file("example_data", as_frame(example_data, "example_data", InvalidEvalData))
            )
        if not files:
            raise InvalidSpec("give new eval_labels, eval_features or example_data")
        self._info = PlaygroundInfo.model_validate(
            self.client.request("POST", self._path("/eval-data"), files=files)
        )
        return self._info

    # --- training data (the Data tab) -----------------------------------------------------------

    def upload_data(
        self, data: Any, target: str | None = None, descriptions: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Hand out training data (owner or co-owner): a table with its target column, or media
        files with their labels; ``descriptions`` says what each column means."""
        return upload_data(self, data, target=target, descriptions=descriptions)

    def download_data(self, format: str = "pandas") -> Any:
        """The training data: a DataFrame, or a ``datasets.Dataset`` with ``format="datasets"``."""
        return download_data(self, format=format)

    def get_data_info(self) -> dict[str, Any] | None:
        """Rows, columns (with the owner's descriptions) and target of the training data."""
        return get_data_info(self)

    def get_sample_submission(self) -> pd.DataFrame:
        """What a predictions file must look like: one ``prediction`` per eval row."""
        return get_sample_submission(self)

    def get_eval_features(self) -> pd.DataFrame:
        return parquet_to_frame(
            self.client.request("GET", self._path("/eval-features"), raw=True), "eval features"
        )

    def get_example_data(self) -> pd.DataFrame:
        return parquet_to_frame(
            self.client.request("GET", self._path("/example-data"), raw=True), "example data"
        )

    def add_member(self, username: str, role: str = "member") -> PlaygroundInfo:
        """Add a member, or change a member's role: ``member`` or ``co-owner`` (a teaching
        assistant: everything the owner may do but delete the playground)."""
        return PlaygroundInfo.model_validate(
            self.client.request(
                "POST", self._path("/members"), json_body={"username": username, "role": role}
            )
        )

    def create_invitation(
        self,
        *,
        expires_in_hours: float = 168,
        max_uses: int = 50,
        email_domain: str | None = None,
        role: str = "member",
    ) -> InvitationInfo:
        """A link people open to sign up and join (``hub url + .path``); shown only now."""
        body = {
            "expires_in_hours": expires_in_hours,
            "max_uses": max_uses,
            "email_domain": email_domain,
            "role": role,
        }
        return InvitationInfo.model_validate(
            self.client.request("POST", self._path("/invitations"), json_body=body)
        )

    def list_invitations(self) -> list[InvitationInfo]:
        return [
            InvitationInfo.model_validate(i) for i in self.client.request("GET", self._path("/invitations"))
        ]

    def revoke_invitation(self, invitation_id: int) -> None:
        self.client.request("DELETE", self._path(f"/invitations/{int(invitation_id)}"))

    def import_roster(self, roster: Any) -> list[RosterEntry]:
        """Accounts and memberships for a class list: a CSV path or a DataFrame with a
        ``username`` column (and an optional ``email``). New accounts come with a one-time
        sign-in link (``hub url + .signin_path``) that sets their password."""
        frame = roster if isinstance(roster, pd.DataFrame) else pd.read_csv(roster, dtype=str)
        if "username" not in frame.columns:
            raise InvalidSpec(f"the roster needs a 'username' column; it has {list(frame.columns)}")
        columns = [c for c in ("username", "email") if c in frame.columns]
        rows = frame[columns].astype(object).where(frame[columns].notna(), None).to_dict(orient="records")
        out = self.client.request("POST", self._path("/roster"), json_body={"rows": rows})
        return [RosterEntry.model_validate(e) for e in out]

    def remove_member(self, username: str) -> PlaygroundInfo:
        return PlaygroundInfo.model_validate(
            self.client.request("DELETE", self._path(f"/members/{username}"))
        )

    # --- competition -------------------------------------------------------------------------

    def update_competition(
        self,
        *,
        deadline: datetime | None = None,
        clear_deadline: bool = False,
        daily_submission_limit: int | None = None,
        final_selections: int | None = None,
        team_size_limit: int | None = None,
    ) -> PlaygroundInfo:
        body = {
            "deadline": deadline.isoformat() if deadline else None,
            "clear_deadline": clear_deadline,
            "daily_submission_limit": daily_submission_limit,
            "final_selections": final_selections,
            "team_size_limit": team_size_limit,
        }
        return PlaygroundInfo.model_validate(
            self.client.request("PATCH", self._path("/competition"), json_body=body)
        )

    def close_competition(self) -> PlaygroundInfo:
        """End the competition now: private scores become visible and rank the board."""
        return PlaygroundInfo.model_validate(self.client.request("POST", self._path("/competition/close")))

    def get_submission_quota(self) -> QuotaInfo:
        return QuotaInfo.model_validate(self.client.request("GET", self._path("/competition/quota")))

    def get_standings(self) -> pd.DataFrame:
        """The competition's standings, one row per team or participant (the final ones after
        the close), as the CSV export has them."""
        data = self.client.request("GET", self._path("/competition/standings.csv"), raw=True)
        return pd.read_csv(io.BytesIO(data))

    # --- teams and final selections ----------------------------------------------------------

    def create_team(self, name: str) -> TeamInfo:
        """Make a team with you in it. Keep ``.join_code``: teammates join with it, and it is
        shown only now (:meth:`new_team_code` makes another)."""
        return TeamInfo.model_validate(
            self.client.request("POST", self._path("/teams"), json_body={"name": name})
        )

    def join_team(self, code: str) -> TeamInfo:
        """Join a team with its code; your entries so far become the team's."""
        return TeamInfo.model_validate(
            self.client.request("POST", self._path("/team/join"), json_body={"code": code})
        )

    def leave_team(self) -> None:
        self.client.request("DELETE", self._path("/team"))

    def get_team(self) -> TeamInfo:
        return TeamInfo.model_validate(self.client.request("GET", self._path("/team")))

    def new_team_code(self) -> TeamInfo:
        return TeamInfo.model_validate(self.client.request("POST", self._path("/team/code")))

    def list_teams(self) -> list[TeamInfo]:
        return [TeamInfo.model_validate(t) for t in self.client.request("GET", self._path("/teams"))]

    def list_entries(self) -> list[SubmissionInfo]:
        """Your team's submissions (or yours), each with ``selected`` if it is a final entry."""
        return [SubmissionInfo.model_validate(d) for d in self.client.request("GET", self._path("/entries"))]

    def select_final(self, versions: Sequence[int]) -> list[SubmissionInfo]:
        """Stand by these entries in the private standing (at most the competition's
        ``final_selections``); ``[]`` clears the choice, and then your best public entries count."""
        body = {"versions": [int(v) for v in versions]}
        return [
            SubmissionInfo.model_validate(d)
            for d in self.client.request("PUT", self._path("/final"), json_body=body)
        ]

    # --- submit ------------------------------------------------------------------------------

    def _conversion_sample(self, info: PlaygroundInfo) -> pd.DataFrame | None:
        if self._sample is None and info.has_eval_features:
            self._sample = self.get_eval_features().head(_SAMPLE_ROWS)
        return self._sample

    def submit_model(
        self,
        model: Any = None,
        prediction_submission: Any = None,
        submission_type: str = "experiment",
        custom_metadata: dict[str, Any] | None = None,
        *,
        description: str = "",
        input_dict: dict[str, Any] | None = None,
        preprocessor: Any = None,
        optimizer: Any = None,
        loss: Any = None,
    ) -> Submission:
        """Convert ``model`` to ONNX, upload it with its predictions and metadata, queue scoring.

        Args:
            model: a fitted scikit-learn estimator or Pipeline, or an ONNX model.
            prediction_submission: predictions on the eval features, in row order.
            submission_type: ``"experiment"``, ``"competition"`` or ``"all"`` (both boards).
            custom_metadata: any JSON-serialisable fields to show on the leaderboard.
            description: a line about this model.
            input_dict: Model Share AI style extras; its ``description`` is used if given.
            preprocessor: how raw inputs become the model's inputs, as data: a `tokenizers`
                tokenizer or transformers fast tokenizer (for text), or a document made with
                :mod:`aims_spaces.core.preprocess` (``aims_spaces.ImageSpec``, ...). Never a Python function.
            optimizer, loss: a PyTorch model's optimizer and loss, recorded as metadata.
        """
        stype = parse_enum(SubmissionType, submission_type, "submission_type")
        info = self.get_info(refresh=self._info is None)
        if input_dict and not description:
            description = str(input_dict.get("description", ""))
        steps = tqdm(
            total=2 if model is not None else 1, desc=f"submit to {self.name}", disable=None, leave=False
        )
        files: list[Any] = []
        meta = SubmissionMeta(
            submission_type=stype.value,
            description=description,
            custom_metadata=_json_safe(custom_metadata or {}, "custom_metadata"),
        )
        prep_doc: bytes | None = None
        prep = None
        if preprocessor is not None:
            if isinstance(preprocessor, bytes):
                prep_doc = preprocessor
            elif isinstance(preprocessor, preprocess.MEDIA_SPECS):
                prep_doc = preprocess.document(preprocessor)
            else:
                prep_doc = preprocess.tokenizer_document(preprocessor)
            prep = preprocess.load(prep_doc)
        if model is not None:
            converted = convert(
                model,
                info.signature,
                sample=self._conversion_sample(info) if not isinstance(model, (bytes, str)) else None,
                preprocessor=prep,
                optimizer=optimizer,
                loss=loss,
            )
            meta.framework = converted.framework
            meta.model_type = converted.model_type
            meta.metadata = converted.metadata
            files.append(("model", ("model.onnx", converted.onnx, "application/octet-stream")))
            if converted.original is not None:
                files.append(("original", ("original", converted.original, "application/octet-stream")))
            if prep_doc is not None:
                files.append(("preprocessor", ("preprocessor.json", prep_doc, "application/json")))
            steps.update()
        if prediction_submission is not None:
            files.append(_parquet_file("predictions", _column(prediction_submission, "prediction")))
        data = self.client.request(
            "POST", self._path("/submissions"), data={"meta": meta.model_dump_json()}, files=files or None
        )
        steps.update()
        steps.close()
        return Submission(self, SubmissionInfo.model_validate(data))

    def _whoami(self) -> str:
        if self._username is None:
            self._username = str(self.client.request("GET", "/api/whoami")["username"])
        return self._username

    def _get_submission_info(self, version: int, wait: float = 0) -> SubmissionInfo:
        data = self.client.request(
            "GET",
            self._path(f"/submissions/{int(version)}"),
            params={"wait": wait} if wait else None,
            timeout=wait + 30,
        )
        return SubmissionInfo.model_validate(data)

    def get_submission(self, version: int) -> Submission:
        return Submission(self, self._get_submission_info(version))

    def list_submissions(self) -> list[SubmissionInfo]:
        return [
            SubmissionInfo.model_validate(d) for d in self.client.request("GET", self._path("/submissions"))
        ]

    # --- analyse -----------------------------------------------------------------------------

    def get_leaderboard_data(self, submission_type: str = "experiment") -> Leaderboard:
        board = parse_enum(Board, submission_type, "board")
        return Leaderboard.model_validate(
            self.client.request("GET", self._path("/leaderboard"), params={"board": board.value})
        )

    def get_leaderboard(self, submission_type: str = "experiment", verbose: bool = True) -> pd.DataFrame:
        """The board as a DataFrame: rank, scores, interval, flags, who, when, model metadata.

        ``verbose=False`` keeps only the ranking columns and scores.
        """
        board = self.get_leaderboard_data(submission_type)
        return leaderboard_frame(board, verbose=verbose)

    def compare_models(self, versions: Sequence[int], verbose: bool = True) -> Any:
        """A pandas Styler: one column per version, rows where they differ highlighted."""
        infos = [self._get_submission_info(v) for v in versions]
        frame = comparison_frame(infos, verbose=verbose)
        return frame.style.apply(highlight_differences, axis=1)

    # --- deploy ------------------------------------------------------------------------------

    def export_space(self, folder: str | Path) -> Path:
        """Write a standalone Hugging Face Space folder for the deployed model: ``app.py``
        (its demo and REST prediction on one port), README front matter, pinned requirements,
        the model and the example rows. Runs with ``python app.py``; see ``aims export-space``."""
        from .space import export_space

        return export_space(self, folder)

    def deploy_model(self, version: int) -> DeploymentInfo:
        """Serve ``version`` at ``POST <serve url>/<name>/predict`` and in the demo (owner only)."""
        info = DeploymentInfo.model_validate(
            self.client.request(
                "POST", self._path("/deployment"), json_body={"version": int(version)}, timeout=180
            )
        )
        self._predict_url = info.predict_url
        return info

    def update_runtime_model(self, version: int) -> DeploymentInfo:
        """Swap the served model for ``version``; requests in flight keep succeeding."""
        return self.deploy_model(version)

    def undeploy(self) -> None:
        self.client.request("DELETE", self._path("/deployment"))
        self._predict_url = None

    def get_deployment(self) -> DeploymentInfo:
        """Which version serves, since when, request and error counts, latency percentiles."""
        info = DeploymentInfo.model_validate(self.client.request("GET", self._path("/deployment")))
        self._predict_url = info.predict_url
        return info

    def predict(self, X: Any) -> pd.DataFrame:
        """Predictions of the runtime model over REST: ``prediction`` (+ ``proba_<class>``).
        Waits (up to a minute) while the model server says the model is loading."""
        url = self._predict_url or self.get_deployment().predict_url
        frame = self._predict_frame(X)
        body = b'{"rows": ' + frame.to_json(orient="records", double_precision=15).encode() + b"}"
        out = while_loading(
            lambda: self.client.request(
                "POST", url, content=body, headers={"Content-Type": "application/json"}
            )
        )
        result = pd.DataFrame({"prediction": out["predictions"]})
        if "probabilities" in out:
            proba = pd.DataFrame(out["probabilities"])
            result = pd.concat([result, proba.add_prefix("proba_")], axis=1)
        result.attrs["model_version"] = out.get("model_version")
        return result

    def _predict_frame(self, X: Any) -> pd.DataFrame:
        info = self.get_info(refresh=self._info is None)
        if info.input_type is InputType.TABULAR:
            return to_frame(X, "X")
        frame = frame_for(info.input_type, paths=True)(X, "X").set_axis([info.feature_schema[0].name], axis=1)
        if info.input_type in MEDIA_COLUMNS:  # media travel in JSON as base64
            name = frame.columns[0]
            frame[name] = [base64.b64encode(v).decode() for v in frame[name]]
        return frame

    def instantiate_model(
        self, version: int, *, prefer: str = "original", into: Any = None, trust_original: bool = False
    ) -> Any:
        """The submitted model.

        ``into=module`` loads a PyTorch submission's weights into your own module and returns it.
        Otherwise: the scikit-learn original from its skops file when there is one (and
        ``prefer="original"``), else an :class:`OnnxPredictor` for any framework.

        Another participant's scikit-learn original is rebuilt only with ``trust_original=True``:
        its file is audited (allow-listed scikit-learn types, no functions), but rebuilding runs
        scikit-learn's own code on data someone else wrote; by default you get their ONNX model,
        which onnxruntime runs as data.
        """
        info = self._get_submission_info(version)
        if prefer == "original" and not trust_original and info.username != self._whoami():
            if info.has_model:
                log.info(
                    "version %s is %s's: returning its ONNX model (trust_original=True rebuilds it)",
                    version,
                    info.username,
                )
                prefer = "onnx"
        path = self._path(f"/submissions/{int(version)}")
        if into is not None:
            if not info.has_original:
                raise InvalidModel(f"version {version} has no original weights to load")
            data = self.client.request("GET", f"{path}/original", raw=True)
            from .conversion.keras import is_keras_model

            if is_keras_model(into):
                from .conversion.keras import load_weights as load_keras_weights

                return load_keras_weights(into, data)
            from .conversion.torch import load_weights

            return load_weights(into, data)
        if prefer == "original" and info.has_original and info.framework == "sklearn":
            return load_skops(self.client.request("GET", f"{path}/original", raw=True))
        if not info.has_model:
            raise InvalidModel(f"version {version} has no model file (predictions only)")
        data = self.client.request("GET", f"{path}/model", raw=True)
        prep = None
        if info.has_preprocessor:
            prep = preprocess.load(self.client.request("GET", f"{path}/preprocessor", raw=True))
        return OnnxPredictor(data, self.get_info(refresh=self._info is None), preprocessor=prep)


def _json_safe(value: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as e:
        raise InvalidSpec(f"{what} must be JSON-serialisable: {e}") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


__all__ = ["ModelPlayground", "Submission"]
