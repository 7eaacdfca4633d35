"""The REST endpoints of a playground's training data (``/api/playgrounds/{name}/data``): a thin
FastAPI shell over :class:`~aims_spaces.hub.training_data.TrainingData`, included in the API by
:func:`aims_spaces.hub.api.create_app`.

The upload (``PUT``) is one of the API's upload routes: :class:`~aims_spaces.hub.api.RequestGuard`
authenticates it before reading its body and bounds the body by ``AIMS_MAX_UPLOAD_MB``.
"""

# No ``from __future__ import annotations`` here: the endpoints' annotations name the caller
# dependency that data_router imports when it runs, so they are evaluated where they are defined.

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from ..core.limits import DecodeLimits
from ..core.tabular import frame_to_parquet, parquet_to_frame
from ..errors import InvalidEvalData, InvalidSpec
from .service import Hub
from .training_data import TrainingDataInfo

_DESCRIPTIONS = TypeAdapter(dict[str, str])


def _descriptions(text: str) -> dict[str, str] | None:
    """The ``descriptions`` form field: a JSON object of column name -> description."""
    if not text.strip():
        return None
    try:
        return _DESCRIPTIONS.validate_json(text)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'descriptions'}: {err['msg']}"
            for err in e.errors()[:5]
        )
        raise InvalidSpec(
            f'invalid descriptions (a JSON object like {{"age": "in years"}}): {problems}'
        ) from None


def data_router(hub: Hub, limits: DecodeLimits) -> APIRouter:
    """The training-data endpoints, for ``create_app`` to include under ``/api``."""
    # Imported here, not at the top: api.py includes this router, so it is imported first.
    from .api import PARQUET, CallerDep

    router = APIRouter(tags=["data"])

    @router.get("/playgrounds/{name}/data", response_model=TrainingDataInfo | None)
    def data_info(name: str, who: CallerDep) -> TrainingDataInfo | None:
        """The training data's rows, columns (with the owner's descriptions), target and size;
        `null` when the owner has uploaded none yet. Members of the playground may read it."""
        return hub.training_data.info(who, name)

    @router.put("/playgrounds/{name}/data", response_model=TrainingDataInfo)
    def upload_data(
        name: str,
        who: CallerDep,
        data: Annotated[
            UploadFile,
            File(
                description="Parquet: the eval features' columns (or the media column of encoded "
                "files) plus the target column"
            ),
        ],
        target: Annotated[str, Form(description="The column participants predict; empty for none.")] = "",
        descriptions: Annotated[
            str, Form(description='Column descriptions as JSON, e.g. {"age": "in years"}.')
        ] = "",
    ) -> TrainingDataInfo:
        """Upload the playground's training data, replacing any earlier one (owner and
        co-owners). It counts toward the owner's storage limit."""
        described = _descriptions(descriptions)
        frame = parquet_to_frame(data.file.read(), "training data", InvalidEvalData, limits=limits)
        return hub.training_data.upload(who, name, frame, target.strip() or None, described)

    @router.delete("/playgrounds/{name}/data", status_code=204)
    def delete_data(name: str, who: CallerDep) -> Response:
        """Delete the training data (owner and co-owners)."""
        hub.training_data.delete(who, name)
        return Response(status_code=204)

    @router.get("/playgrounds/{name}/data/train.parquet", responses={200: {"content": {PARQUET: {}}}})
    def train_parquet(name: str, who: CallerDep) -> Response:
        """The training data as Parquet (media columns hold the encoded files)."""
        return Response(
            frame_to_parquet(hub.training_data.download(who, name)),
            media_type=PARQUET,
            headers={"Content-Disposition": f'attachment; filename="{name}-train.parquet"'},
        )

    @router.get(
        "/playgrounds/{name}/data/sample-submission.csv", responses={200: {"content": {"text/csv": {}}}}
    )
    def sample_submission(name: str, who: CallerDep) -> Response:
        """What a predictions file must look like: a `prediction` column with one valid value
        per eval row, in the eval features' order."""
        frame = hub.training_data.sample_submission(who, name)
        return Response(
            frame.to_csv(index=False).encode(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}-sample-submission.csv"'},
        )

    return router


__all__ = ["data_router"]
