"""Training data a playground's owner hands out: a table (features and a target column), text in
a table, or a column of encoded media files, with optional column descriptions.

Members download it with the eval features and a sample submission (what a predictions file
must look like). It lives in the private eval-data repo beside the eval data
(:meth:`EvalDataRepo.save_training`) and counts toward the owner's storage limit like the eval
data does (``PlaygroundRow.data_bytes``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..core.limits import over_limit
from ..core.media import MEDIA_COLUMNS, frame_for
from ..core.tabular import check_columns, clean_labels, clean_targets, column_type, infer_schema, to_frame
from ..domain import ColumnType, InputType, Signature, TaskType, check_text
from ..errors import InvalidEvalData, InvalidInput, InvalidSpec
from .access import Access, Caller
from .evaldata import EvalDataRepo, TrainingMeta
from .playgrounds import Playgrounds
from .registry import PlaygroundRow, Registry, UserRow
from .settings import Settings

log = logging.getLogger(__name__)

WHAT = "training data"
MAX_COLUMN_DESCRIPTION = 1_000
MAX_COLUMN_NAME = 256


class TrainingColumn(BaseModel):
    """One column of a playground's training data."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Column name.")
    dtype: str = Field(
        description="Value type as the stored dataset has it: `float64`, `int64`, `bool`, `string`, "
        "or `binary` (encoded image, sound or video files)."
    )
    description: str = Field(default="", description="What the column holds, as the owner wrote it.")


class TrainingDataInfo(BaseModel):
    """A playground's training data, as its members see it before downloading it."""

    model_config = ConfigDict(frozen=True)

    playground: str = Field(description="The playground's name.")
    rows: int = Field(description="Number of rows.")
    columns: list[TrainingColumn] = Field(description="The columns, in order (the target last).")
    target: str | None = Field(description="The column to predict, if the data has one.")
    size_bytes: int = Field(description="Its size in memory, as counted toward the owner's storage limit.")
    updated_at: datetime = Field(description="When it was last uploaded (UTC).")


class TrainingData:
    """Upload, describe, download and delete a playground's training data.

    Owners and co-owners (``Access.MANAGE``) upload and delete it; anyone who may read the
    playground (``Access.READ``) sees and downloads it, and its sample submission.
    """

    def __init__(
        self, registry: Registry, playgrounds: Playgrounds, evaldata: EvalDataRepo, settings: Settings
    ) -> None:
        self.registry = registry
        self.playgrounds = playgrounds
        self.evaldata = evaldata
        self.settings = settings

    # --- owners ----------------------------------------------------------------------------

    def upload(
        self,
        caller: Caller | None,
        name: str,
        frame: Any,
        target: str | None = None,
        descriptions: dict[str, str] | None = None,
    ) -> TrainingDataInfo:
        """Store ``frame`` as the playground's training data, replacing any earlier one.

        Args:
            frame: a DataFrame. Tabular and text playgrounds: the eval features' columns plus
                ``target``. Image, audio and video playgrounds: the media column (encoded files;
                a string is never read as a path) plus ``target``.
            target: the column participants learn to predict; its values must be classes of the
                playground (classification) or finite numbers (regression).
            descriptions: column name -> what the column holds (at most 1,000 characters each).

        Raises:
            PermissionDenied: the caller does not manage the playground.
            InvalidSpec: a bad target name or descriptions.
            InvalidEvalData: the table does not fit the playground, or is over a decoding limit.
            LimitReached: the owner's account would pass its storage limit.
        """
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.MANAGE)
            pg_id, signature = pg.id, pg.signature
        data, described = self._checked(frame, signature, target, descriptions)
        target = target or None
        data_bytes = int(data.memory_usage(index=False, deep=True).sum())

        # One change at a time per playground: the data, its byte count and the id go together.
        with self.playgrounds.data_lock(pg_id):
            with self.registry.session() as s:  # read again: the eval data may have moved meanwhile
                eval_data_id = self.playgrounds.load(s, name, caller, Access.MANAGE).eval_data_id
            before = self.evaldata.training_meta(eval_data_id)
            adding = data_bytes - (before.data_bytes if before is not None else 0)
            if adding > 0:  # taken before writing (and given back if the write fails)
                with self.registry.session() as s:
                    pg = self.playgrounds.load(s, name, caller, Access.MANAGE)
                    # The owner's account holds the data, whoever uploads it; admins have no limit.
                    charged = caller if caller is not None and caller.is_admin else _owner(s, pg)
                    self.playgrounds.check_storage(s, charged, adding)
                    self._count(s, pg_id, adding)
            try:
                meta = self.evaldata.save_training(
                    eval_data_id, data, described, target=target, data_bytes=data_bytes
                )
            except BaseException:
                if adding > 0:
                    with self.registry.session() as s:
                        self._count(s, pg_id, -adding)
                raise
            if adding < 0:  # freed once the smaller data is in place
                with self.registry.session() as s:
                    self._count(s, pg_id, adding)
        log.info(
            "training data of %s uploaded by %s (%d rows, %d bytes)",
            name,
            caller.username if caller else "?",
            meta.rows,
            data_bytes,
        )
        return _info(name, meta)

    def delete(self, caller: Caller | None, name: str) -> None:
        """Delete the training data (nothing happens when there is none)."""
        with self.registry.session() as s:
            pg_id = self.playgrounds.load(s, name, caller, Access.MANAGE).id
        with self.playgrounds.data_lock(pg_id):
            with self.registry.session() as s:
                eval_data_id = self.playgrounds.load(s, name, caller, Access.MANAGE).eval_data_id
            gone = self.evaldata.delete_training(eval_data_id)
            if gone is not None and gone.data_bytes:
                with self.registry.session() as s:
                    self._count(s, pg_id, -gone.data_bytes)

    def _count(self, session: Session, playground_id: int, adding: int) -> None:
        """Add ``adding`` bytes (or take them back) to what the playground's data takes."""
        session.execute(
            update(PlaygroundRow)
            .where(PlaygroundRow.id == playground_id)
            .values(data_bytes=PlaygroundRow.data_bytes + adding)
        )

    def can_upload(self, caller: Caller | None, name: str) -> bool:
        """Whether ``caller`` may upload training data (to show the form to those who may)."""
        if caller is None:
            return False
        try:
            with self.registry.session() as s:
                self.playgrounds.load(s, name, caller, Access.MANAGE)
        except (PermissionError, LookupError):  # PermissionDenied, PlaygroundNotFound
            return False
        return True

    # --- members ---------------------------------------------------------------------------

    def info(self, caller: Caller | None, name: str) -> TrainingDataInfo | None:
        """Rows, columns (with their descriptions), target and size; None when the owner has
        uploaded no training data yet."""
        with self.registry.session() as s:
            eval_data_id = self.playgrounds.load(s, name, caller, Access.READ).eval_data_id
        meta = self.evaldata.training_meta(eval_data_id)
        return _info(name, meta) if meta is not None else None

    def download(self, caller: Caller | None, name: str) -> pd.DataFrame:
        """The training data as a DataFrame (media columns hold the encoded files' bytes).

        Raises:
            InvalidInput: the playground has no training data yet.
        """
        with self.registry.session() as s:
            eval_data_id = self.playgrounds.load(s, name, caller, Access.READ).eval_data_id
        frame = self.evaldata.training(eval_data_id)
        if frame is None:
            raise InvalidInput(f"playground {name!r} has no training data yet")
        return frame

    def sample_submission(self, caller: Caller | None, name: str) -> pd.DataFrame:
        """What a predictions file must look like: one ``prediction`` column, one row per eval
        row in order, each a valid value (the first class, or 0.0 for regression)."""
        with self.registry.session() as s:
            pg = self.playgrounds.load(s, name, caller, Access.READ)
            n, signature = pg.n_eval_rows, pg.signature
        value: Any = signature.classes[0] if signature.classification and signature.classes else 0.0
        return pd.DataFrame({"prediction": [value] * n})

    # --- checks ----------------------------------------------------------------------------

    def _checked(
        self, frame: Any, signature: Signature, target: str | None, descriptions: Any
    ) -> tuple[pd.DataFrame, dict[str, str]]:
        """The table as stored (the feature columns, checked against the playground, then the
        target, checked and cleaned) and its column descriptions."""
        if not isinstance(frame, pd.DataFrame):
            raise InvalidEvalData(f"{WHAT} must be a table (a pandas DataFrame), got {type(frame).__name__}")
        limits = self.settings.decode_limits
        if frame.shape[1] > limits.max_table_columns:
            raise InvalidEvalData(
                over_limit(
                    WHAT,
                    f"has {frame.shape[1]:,} columns",
                    "max_table_columns",
                    f"{limits.max_table_columns:,}",
                )
            )
        if len(frame) > limits.max_table_rows:
            raise InvalidEvalData(
                over_limit(WHAT, f"has {len(frame):,} rows", "max_table_rows", f"{limits.max_table_rows:,}")
            )
        frame = to_frame(frame, WHAT, InvalidEvalData)
        if len(frame) == 0:
            raise InvalidEvalData(f"{WHAT} has no rows")
        for column in frame.columns:
            check_text(column, f"column name {column[:80]!r} of the {WHAT}", max_length=MAX_COLUMN_NAME)
        if target is not None and target != "":
            check_text(target, "target", max_length=MAX_COLUMN_NAME)
            if target not in frame.columns:
                raise InvalidSpec(
                    f"target {target!r} is not a column of the {WHAT}; its columns are "
                    f"{_some(list(frame.columns))}"
                )
            if target in signature.column_names:
                raise InvalidSpec(
                    f"target {target!r} is one of the playground's feature columns; name the column "
                    "participants should predict"
                )
        target = target or None
        # Cheap checks first: the media files below are decoded one by one.
        described = _check_descriptions(descriptions, list(frame.columns))
        features = frame.drop(columns=[target]) if target else frame
        if features.shape[1] == 0:
            raise InvalidEvalData(f"{WHAT} has no feature columns, only the target {target!r}")
        labels = _target(frame[target], target, signature) if target else None
        features = self._features(features, signature)
        if labels is None:
            return features, described
        out = features.copy()
        out[target] = labels.to_numpy()
        return out, described

    def _features(self, features: pd.DataFrame, signature: Signature) -> pd.DataFrame:
        input_type = signature.input_type
        schema = signature.feature_schema
        expected = signature.column_names
        if input_type in MEDIA_COLUMNS or input_type is InputType.TEXT:
            kind = MEDIA_COLUMNS.get(input_type)
            if expected and list(features.columns) != expected:
                raise InvalidEvalData(
                    f"the {WHAT} of this {input_type.value} playground must hold the column "
                    f"{expected[0]!r} ({kind.value + ' files' if kind else 'texts'}) and the target; "
                    f"found the columns {_some(list(features.columns))}"
                )
            as_frame = frame_for(input_type, limits=self.settings.decode_limits)
            # A string in a media column is refused (never opened as a path on the hub).
            return as_frame(features, WHAT, InvalidEvalData)
        if not schema:  # created without eval features or example rows: any supported columns
            infer_schema(features, WHAT)
            return features
        check_columns(features, schema, WHAT)
        features = features[expected]
        for column in schema:
            found = column_type(features[column.name])
            if found is None:
                raise InvalidEvalData(
                    f"column {column.name!r} of the {WHAT} has dtype {features[column.name].dtype} "
                    "that is not supported; use numbers, booleans or strings"
                )
            if found.numeric != column.dtype.numeric:
                raise InvalidEvalData(
                    f"column {column.name!r} of the {WHAT} holds {_kind(found)} but the eval "
                    f"features' column holds {_kind(column.dtype)}"
                )
        return features


def _target(values: pd.Series, name: str, signature: Signature) -> pd.Series:
    what = f"target column {name!r}"
    if signature.task_type is TaskType.REGRESSION:
        return pd.Series(clean_targets(values, what), name=name)
    labels = clean_labels(values, what)
    known = set(signature.classes or [])
    unknown = sorted({v for v in labels.tolist() if v not in known}, key=str)
    if known and unknown:
        raise InvalidEvalData(
            f"{what} holds {len(unknown)} value(s) that are not classes of this playground, e.g. "
            f"{_some(unknown, 10)}; the classes are {_some(list(signature.classes or []))}"
        )
    return pd.Series(labels.tolist(), name=name)


def _check_descriptions(descriptions: Any, columns: list[str]) -> dict[str, str]:
    """Column name -> description, each a column of the stored table; empty ones dropped."""
    if descriptions is None:
        return {}
    if not isinstance(descriptions, dict):
        raise InvalidSpec(f"descriptions must map column names to texts, got {type(descriptions).__name__}")
    if len(descriptions) > len(columns):
        raise InvalidSpec(
            f"descriptions has {len(descriptions):,} entries but the {WHAT} has only {len(columns):,} columns"
        )
    out = {}
    for key, text in descriptions.items():
        if not isinstance(key, str) or key not in columns:
            shown = key[:80] if isinstance(key, str) else key
            raise InvalidSpec(
                f"descriptions names {shown!r}, which is not a column of the {WHAT} "
                f"(its columns are {_some(columns)})"
            )
        check_text(
            text, f"the description of column {key[:80]!r}", max_length=MAX_COLUMN_DESCRIPTION, multiline=True
        )
        if text.strip():
            out[key] = text
    return out


def _owner(session: Session, pg: PlaygroundRow) -> Caller:
    """The playground's owner, whose storage the training data takes (whoever uploads it)."""
    row = session.scalar(select(UserRow).where(UserRow.id == pg.owner_id))
    return Caller(
        user_id=pg.owner_id, username=row.username if row else "?", is_admin=bool(row and row.is_admin)
    )


def _info(name: str, meta: TrainingMeta) -> TrainingDataInfo:
    return TrainingDataInfo(
        playground=name,
        rows=meta.rows,
        columns=[
            TrainingColumn(name=column, dtype=dtype, description=meta.descriptions.get(column, ""))
            for column, dtype in meta.columns
        ],
        target=meta.target,
        size_bytes=meta.data_bytes,
        updated_at=meta.updated_at,
    )


def _kind(dtype: ColumnType) -> str:
    return "numbers" if dtype.numeric else "strings"


def _some(values: list[Any], n: int = 20) -> str:
    """A list for a message: the first ``n`` values, and how many more there are."""
    shown = repr([v[:80] if isinstance(v, str) else v for v in values[:n]])
    return shown if len(values) <= n else f"{shown[:-1]}, … {len(values) - n:,} more]"


__all__ = ["TrainingColumn", "TrainingData", "TrainingDataInfo"]
