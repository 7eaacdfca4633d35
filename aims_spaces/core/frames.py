"""The leaderboard and comparison as pandas frames: one row per submission (or one column per
version), metric columns first, then who and what, then the metadata flattened into columns.

Shared by the client's ``get_leaderboard``/``compare_models`` and the hub's web tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..domain import Leaderboard, SubmissionInfo


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list):
        out[prefix] = (
            json.dumps(value)
            if any(isinstance(v, (dict, list)) for v in value)
            else ", ".join(map(str, value))
        )
    else:
        out[prefix] = value


def architecture_columns(metadata: dict[str, Any]) -> dict[str, Any]:
    """A network's architecture in a few leaderboard columns (PyTorch, transformers, Keras)."""
    if "layer_types" not in metadata:
        return {}
    out = {
        "arch.layers": ", ".join(f"{name}×{n}" for name, n in metadata["layer_types"].items()),
        "arch.parameters": metadata.get("total_parameters"),
        "arch.trainable": metadata.get("trainable_parameters"),
        "arch.depth": metadata.get("depth"),
        "arch.size_bytes": metadata.get("size_bytes"),
    }
    optimizer = metadata.get("optimizer") or {}
    if optimizer:
        out["arch.optimizer"] = optimizer.get("type")
        out["arch.learning_rate"] = optimizer.get("lr", optimizer.get("learning_rate"))
    if metadata.get("loss"):
        out["arch.loss"] = metadata["loss"].get("type")
    return out


def leaderboard_frame(board: Leaderboard, verbose: bool = True) -> pd.DataFrame:
    metric = board.metric.value
    records = []
    for row in board.rows:
        rec: dict[str, Any] = {"rank": row.rank, "version": row.version, "username": row.username}
        if row.team is not None or row.entries is not None:
            rec.update(team=row.team, entries=row.entries)
        for name, value in row.scores.items():
            rec[name] = value
        rec[f"{metric}_ci_low"] = row.interval[0] if row.interval else None
        rec[f"{metric}_ci_high"] = row.interval[1] if row.interval else None
        if row.private_scores is not None:
            for name, value in row.private_scores.items():
                rec[f"private_{name}"] = value
        rec.update(
            model_type=row.model_type,
            framework=row.framework,
            verified=row.verified,
            mismatch_fraction=row.mismatch_fraction,
            duplicate_of=row.duplicate_of,
            submission_type=row.submission_type.value,
            submitted=row.created_at,
            description=row.description,
        )
        for key, value in row.custom_metadata.items():
            _flatten(f"custom.{key}", value, rec)
        if verbose:
            for key in ("parameters", "tree_nodes", "size_bytes", "n_nodes"):
                if key in row.onnx_metadata:
                    rec[f"onnx.{key}"] = row.onnx_metadata[key]
            params = row.metadata.get("params", {})
            for step, values in params.items():
                for key, value in values.items():
                    _flatten(f"param.{step}.{key}", value, rec)
            rec.update(architecture_columns(row.metadata))
        records.append(rec)
    df = pd.DataFrame.from_records(records)
    if df.empty:
        df = pd.DataFrame(columns=["rank", "version", "username", metric])
    df.attrs.update(
        playground=board.playground,
        board=board.board.value,
        metric=metric,
        higher_is_better=board.higher_is_better,
        scored_on=board.scored_on.value,
        ranked_on=board.ranked_on.value,
    )
    return df


def standings_frame(board: Leaderboard) -> pd.DataFrame:
    """The competition board as a table of standings: one row per team or participant, its
    standing entry and the ranking metric on the rows the board shows and (after the close, or
    for those who manage the playground) on the private rows."""
    metric = board.metric.value
    records = []
    for row in board.rows:
        rec: dict[str, Any] = {
            "rank": row.rank,
            "entrant": row.team or row.username,
            "team": row.team,
            "submitted_by": row.username,
            "version": row.version,
            "entries": row.entries,
            "submitted": row.created_at.isoformat(timespec="seconds"),
            f"{board.scored_on.value}_{metric}": row.scores.get(metric),
        }
        if row.private_scores is not None:
            rec[f"private_{metric}"] = row.private_scores.get(metric)
        rec.update(model_type=row.model_type, framework=row.framework, description=row.description)
        records.append(rec)
    columns = ["rank", "entrant", "team", "submitted_by", "version", "entries", "submitted"]
    df = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=columns)
    df.attrs.update(playground=board.playground, metric=metric, ranked_on=board.ranked_on.value)
    return df


def comparison_frame(infos: Sequence[SubmissionInfo], verbose: bool = True) -> pd.DataFrame:
    columns: dict[str, dict[str, Any]] = {}
    for info in infos:
        rec: dict[str, Any] = {
            "username": info.username,
            "status": info.status.value,
            "model_type": info.model_type,
            "framework": info.framework,
        }
        for split, values in info.scores.items():
            for name, value in values.items():
                rec[f"{split}.{name}"] = value
        _flatten("custom", info.custom_metadata, rec)
        if verbose:
            rec["steps"] = ", ".join(info.metadata.get("steps", []))
            _flatten("param", info.metadata.get("params", {}), rec)
            for key in ("parameters", "tree_nodes", "size_bytes", "n_nodes", "operators"):
                if key in info.onnx_metadata:
                    _flatten(f"onnx.{key}", info.onnx_metadata[key], rec)
        columns[f"v{info.version}"] = rec
    return pd.DataFrame(columns)


def highlight_differences(row: pd.Series) -> list[str]:
    values = [json.dumps(v, default=str, sort_keys=True) if not _is_nan(v) else "NaN" for v in row]
    differs = len(set(values)) > 1
    return ["background-color: #fff3b0; font-weight: bold" if differs else "" for _ in row]


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


__all__ = [
    "architecture_columns",
    "comparison_frame",
    "highlight_differences",
    "leaderboard_frame",
    "standings_frame",
]
