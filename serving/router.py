"""The prediction router's logic: find a playground's runtime model, check the caller may use
it, read a request body within its limit, turn it into model inputs (or say exactly what is
wrong with it), and turn model outputs into labels. Plain Python; the Serve deployment in
:mod:`serving.app` wraps it.

A private playground is invisible to anyone who may not use it: no token, a bad, expired or
revoked one, or someone else's all get the same 404 as a playground that does not exist. The
access lists come from the shared serving state; when a replica has not heard from it for
:data:`STALE_AFTER_S`, it stops trusting what it holds and answers 503 for every playground it
does not know to be public.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from aims_spaces.core.limits import DEFAULT_LIMITS, DecodeLimits
from aims_spaces.core.media import from_base64
from aims_spaces.core.onnx_model import Inputs, ModelOutput
from aims_spaces.core.tabular import csv_to_frame
from aims_spaces.domain import Column, ColumnType, InputType, Route, TaskType
from aims_spaces.errors import (
    AimsError,
    AuthenticationRequired,
    HubUnavailable,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
)

if TYPE_CHECKING:  # the exported Space runs this module without the hub's packages
    from aims_spaces.hub.access import Caller

MAX_ROWS = 100_000
MAX_FILES = 1_000  # files (rows) of one multipart request
MAX_FIELDS = 16  # other parts of one multipart request
STALE_AFTER_S = 10.0  # without a sync for this long, a replica's access lists are not trusted


class InvalidRows(InvalidInput):
    """A prediction request body that does not fit the model's input schema."""


def not_served(name: str) -> NotFound:
    # The same words whether the playground is missing, not deployed or private to others.
    return NotFound(
        f"playground {name!r} has no deployed model, does not exist, or is private and you are not a member"
    )


def stale_access() -> HubUnavailable:
    return HubUnavailable("access information is stale; retry shortly")


def too_large(limit_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {limit_bytes / 2**20:g} MiB, the most one prediction "
        "request may send (the hub's AIMS_MAX_PREDICT_MB setting); send fewer rows per request"
    )


class TokenCache:
    """Remembers token -> caller lookups for a few seconds, so a request rarely touches the
    registry and a revoked token stops working within ``ttl_s``."""

    def __init__(
        self, lookup: Callable[[str], Caller | None], ttl_s: float = 5.0, negative_ttl_s: float = 5.0
    ):
        self.lookup = lookup
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self._cache: dict[str, tuple[float, Caller | None]] = {}

    def __call__(self, token: str) -> Caller | None:
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            if hit[1] is None:
                raise AuthenticationRequired(
                    "the API token is not valid (revoked, mistyped or from another hub)"
                )
            return hit[1]
        try:
            caller = self.lookup(token)
        except AuthenticationRequired:
            self._cache[token] = (now + self.negative_ttl_s, None)
            raise
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (now + self.ttl_s, caller)
        return caller


class Router:
    def __init__(
        self,
        authenticate: Callable[[str], Caller | None],
        stale_after_s: float = STALE_AFTER_S,
        limits: DecodeLimits | None = None,
    ) -> None:
        self.authenticate = authenticate
        self.stale_after_s = stale_after_s
        self.limits = limits or DEFAULT_LIMITS
        self.routes: dict[str, Route] = {}
        self.synced_at = -math.inf  # time.monotonic() of the last update from the serving state
        # playground -> (its schema, how to read its rows as one matrix; None unless all numeric)
        self._numeric: dict[str, tuple[list[Column], _NumericPlan | None]] = {}

    def update(self, routes: Iterable[Route]) -> None:
        """Serve ``routes`` (and their access lists) from now on, fresh as of now."""
        self.routes = {route.playground: route for route in routes}
        self.synced_at = time.monotonic()

    def resolve(self, playground: str, authorization: str | None) -> Route:
        """The playground's route, if the caller may use it.

        Raises:
            NotFound: no such route, or a private one the caller may not use (the same words).
            HubUnavailable: the access lists are stale and the route is not known to be public.
        """
        route = self.routes.get(playground)
        if route is None or route.private:
            if time.monotonic() - self.synced_at > self.stale_after_s:
                raise stale_access()  # also for unknown names, so staleness reveals nothing
            token = _bearer(authorization)
            if token is None:
                raise not_served(playground)
            # The token is looked up for a missing playground as for a private one, so the time
            # an answer takes does not tell which private playgrounds exist.
            try:
                caller = self.authenticate(token)
            except AuthenticationRequired:  # a 401 would tell a prober the playground exists
                raise not_served(playground) from None
            if route is None:
                raise not_served(playground)
            if caller is None or not (caller.is_admin or caller.user_id in route.allowed_user_ids):
                raise not_served(playground)
        return route

    def parse(self, route: Route, body: bytes) -> tuple[Inputs, int]:
        """Model inputs from ``{"rows": [{column: value, ...}, ...]}``: one float matrix of the
        columns in schema order when every column is numeric, else one array per column."""
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            where = f" (line {e.lineno}, column {e.colno})" if body else " (it is empty)"
            raise InvalidRows(f"the body is not valid JSON{where}") from None
        return self.parse_doc(route, doc)

    def parse_doc(self, route: Route, doc: Any) -> tuple[Inputs, int]:
        """Model inputs from a parsed JSON document (see :meth:`parse`)."""
        schema = route.signature.feature_schema
        cached = self._numeric.get(route.playground)
        if cached is None or cached[0] is not schema:
            cached = self._numeric[route.playground] = (schema, _NumericPlan.of(schema))
        plan = cached[1]
        if plan is not None and type(doc) is dict and type(rows := doc.get("rows")) is list:
            matrix = plan.matrix(rows)
            if matrix is not None:
                return matrix, len(rows)
        if isinstance(doc, dict) and "inputs" in doc and "rows" not in doc and len(schema) == 1:
            # One-input models (text): {"inputs": ["a review", ...]} is short for rows of that column.
            inputs = doc["inputs"] if isinstance(doc["inputs"], list) else [doc["inputs"]]
            doc = {"rows": [{schema[0].name: value} for value in inputs]}
        if not isinstance(doc, dict) or "rows" not in doc:
            raise InvalidRows('the body must be a JSON object {"rows": [{"<column>": <value>, ...}, ...]}')
        rows = doc["rows"]
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list) or not rows:
            raise InvalidRows('"rows" must be a non-empty list of objects, one per row')
        if len(rows) > MAX_ROWS:
            raise InvalidRows(f"at most {MAX_ROWS} rows per request, got {len(rows)}")
        names = [c.name for c in schema]
        columns: dict[str, list[Any]] = {name: [] for name in names}
        known = set(names)
        for i, row in enumerate(rows):
            if isinstance(row, list):
                if len(row) != len(names):
                    raise InvalidRows(
                        f"row {i} has {len(row)} values; expected {len(names)} in the order {names}"
                    )
                row = dict(zip(names, row, strict=True))
            elif not isinstance(row, dict):
                raise InvalidRows(f"row {i} must be an object of column values, got {type(row).__name__}")
            if len(row) != len(names) or row.keys() != known:
                missing = [n for n in names if n not in row]
                extra = [k for k in row if k not in known]
                parts = []
                if missing:
                    parts.append(f"missing column(s) {missing}")
                if extra:
                    parts.append(f"unknown column(s) {extra}")
                raise InvalidRows(f"row {i}: {'; '.join(parts)}; the model takes {names}")
            for name in names:
                columns[name].append(row[name])
        out: dict[str, np.ndarray] = {}
        for col in schema:
            out[col.name] = _column_array(col.name, col.dtype, columns[col.name], col.categories)
        if plan is not None:  # e.g. rows given as lists or with true/false: the same matrix as the fast path
            return np.column_stack([out[name] for name in names]), len(rows)
        return out, len(rows)

    def files(self, route: Route, files: list[bytes]) -> tuple[dict[str, np.ndarray], int]:
        """Model inputs from files uploaded as multipart form data.

        Media and text playgrounds take one row per file (an image, a sound, a clip, or a UTF-8
        text); tabular playgrounds take one CSV file whose header names the columns.
        """
        schema = route.signature.feature_schema
        if not files:
            raise InvalidRows("the form holds no files")
        if len(files) > MAX_ROWS:
            raise InvalidRows(f"at most {MAX_ROWS} files per request, got {len(files)}")
        if route.signature.input_type is InputType.TABULAR:
            if len(files) != 1:
                raise InvalidRows(f"send the rows as one CSV file, got {len(files)} files")
            return self.parse_doc(route, {"rows": _csv_rows(files[0], schema, self.limits)})
        column = np.empty(len(files), dtype=object)
        if schema[0].dtype.media:
            column[:] = files
        else:
            for i, data in enumerate(files):
                try:
                    column[i] = data.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise InvalidRows(f"file {i} is not UTF-8 text ({e.reason} at byte {e.start})") from None
        return {schema[0].name: column}, len(files)

    @staticmethod
    def format(route: Route, output: ModelOutput) -> dict[str, Any]:
        if route.signature.task_type is TaskType.REGRESSION:
            assert output.values is not None
            return {"predictions": output.values.tolist(), "model_version": route.version}
        classes = route.signature.classes or []
        assert output.indices is not None
        result: dict[str, Any] = {"predictions": [classes[i] for i in output.indices.tolist()]}
        if output.probabilities is not None:
            keys = [c if type(c) is str else str(c) for c in classes]
            proba = output.probabilities.round(6).tolist()
            result["probabilities"] = [dict(zip(keys, row, strict=True)) for row in proba]
        result["model_version"] = route.version
        return result


def _csv_rows(data: bytes, schema: list[Column], limits: DecodeLimits) -> list[dict[str, Any]]:
    """The rows of an uploaded CSV file, with numbers parsed and string columns kept as text
    (read within the hub's bounds: size, rows and columns checked before pandas parses)."""
    import pandas as pd

    strings = {c.name: str for c in schema if c.dtype is ColumnType.STRING}
    frame = csv_to_frame(
        data, "the CSV file", InvalidRows, limits=limits, dtype=strings, keep_default_na=False, na_values=[""]
    )
    if frame.empty:
        raise InvalidRows("the CSV file holds no rows")
    for col in schema:  # a stray word in a numeric column: keep the rest numbers, so the row is named
        if col.dtype.numeric and col.name in frame and not pd.api.types.is_numeric_dtype(frame[col.name]):
            frame[col.name] = frame[col.name].map(_number_or_text).astype(object)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{str(k): v.item() if isinstance(v, np.generic) else v for k, v in row.items()} for row in rows]


def _number_or_text(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class _NumericPlan:
    """Reads rows of plain numbers straight into one matrix, for schemas whose every column is
    numeric. Anything unusual (a missing column, a string, a non-finite number, true/false) makes
    :meth:`matrix` give up, and the general path in :meth:`Router.parse_doc` names the problem."""

    def __init__(self, names: list[str], integer_columns: list[int]) -> None:
        self.names = names
        self.known = set(names)
        self.integer_columns = integer_columns

    @classmethod
    def of(cls, schema: list[Column]) -> _NumericPlan | None:
        if not schema or not all(c.dtype.numeric for c in schema):
            return None
        return cls([c.name for c in schema], [j for j, c in enumerate(schema) if c.dtype is ColumnType.INT])

    def matrix(self, rows: list[Any]) -> np.ndarray | None:
        known, names = self.known, self.names
        if not rows or len(rows) > MAX_ROWS:
            return None
        for row in rows:
            if type(row) is not dict or row.keys() != known:
                return None
        values = [[row[name] for name in names] for row in rows]
        few = len(values) <= 8  # few values: plain Python beats numpy's per-call cost
        isfinite = math.isfinite
        for line in values:
            for v in line:
                t = type(v)
                if t is float:
                    if few and not isfinite(v):
                        return None
                elif t is not int:
                    return None
        try:
            matrix = np.array(values, dtype=np.float64)
        except OverflowError:  # an integer beyond float range
            return None
        if not few and not np.isfinite(matrix).all():
            return None
        if self.integer_columns:
            ints = matrix[:, self.integer_columns]
            if not (ints == np.round(ints)).all():
                return None
        return matrix


def _column_array(
    name: str, dtype: ColumnType, values: list[Any], categories: list[str] | None
) -> np.ndarray:
    if dtype.media:
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            try:
                out[i] = from_base64(v, f"row {i}, column {name!r}")
            except InvalidInput as e:
                raise InvalidRows(
                    f"{e.message} (send {dtype.value} files as base64 text, or as multipart files)"
                ) from None
        return out
    if dtype is ColumnType.STRING:
        if not all(type(v) is str for v in values):
            for i, v in enumerate(values):
                if not isinstance(v, str):
                    raise InvalidRows(f"row {i}, column {name!r}: expected a string, got {_describe(v)}")
        if categories is not None:
            allowed = set(categories)
            if not allowed.issuperset(values):
                i, v = next((i, v) for i, v in enumerate(values) if v not in allowed)
                raise InvalidRows(
                    f"row {i}, column {name!r}: unknown category {v!r}; known: {sorted(allowed)[:20]}"
                )
        return np.array(values, dtype=object)
    # Fast path for long columns of plain numbers; the loop below names the first bad value.
    if len(values) > 32 and all(type(v) in _NUMBER_TYPES for v in values):
        arr = np.asarray(values, dtype=np.float64)
        if np.isfinite(arr).all() and (dtype is not ColumnType.INT or np.all(arr == np.round(arr))):
            return arr
    for i, v in enumerate(values):
        if isinstance(v, bool):
            continue  # true/false count as 1/0
        if not isinstance(v, (int, float)):
            raise InvalidRows(f"row {i}, column {name!r}: expected a number, got {_describe(v)}")
        if isinstance(v, float) and not math.isfinite(v):
            raise InvalidRows(f"row {i}, column {name!r}: {v!r} is not a finite number")
        if dtype is ColumnType.INT and isinstance(v, float) and not v.is_integer():
            raise InvalidRows(f"row {i}, column {name!r}: expected an integer, got {v!r}")
    return np.asarray(values, dtype=np.float64)


_NUMBER_TYPES = (int, float, bool)


def _describe(v: Any) -> str:
    if v is None:
        return "null (missing value)"
    return f"{type(v).__name__} {v!r}"[:80]


def error_body(error: AimsError) -> bytes:
    return orjson.dumps(error.to_payload())


# --- request bodies ---------------------------------------------------------------------------

Receive = Callable[[], Awaitable[Mapping[str, Any]]]


def check_length(content_length: bytes | str | None, limit_bytes: int) -> None:
    """Refuse a body by its declared length before reading any of it."""
    if content_length is None:
        return
    try:
        length = int(content_length)
    except ValueError:
        raise InvalidInput("the Content-Length header is not a number") from None
    if length > limit_bytes:
        raise too_large(limit_bytes)


class BodyLimit:
    """An ASGI ``receive`` that raises :class:`PayloadTooLarge` as soon as the request body
    passes ``limit_bytes``, whatever its Content-Length said (or if it said nothing)."""

    def __init__(self, receive: Receive, limit_bytes: int) -> None:
        self.receive = receive
        self.limit_bytes = limit_bytes
        self.seen = 0

    async def __call__(self) -> Mapping[str, Any]:
        message = await self.receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit_bytes:
                raise too_large(self.limit_bytes)
        return message


async def read_body(receive: Receive) -> bytes:
    """The whole body a (limited) ``receive`` delivers."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def read_files(headers: Any, receive: Receive) -> list[bytes]:
    """The files of a ``multipart/form-data`` body, at most :data:`MAX_FILES` of them.

    Args:
        headers: the request's headers (``starlette.datastructures.Headers``).
        receive: where the body comes from (a :class:`BodyLimit`).
    """
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def stream() -> Any:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    try:
        parser = MultiPartParser(headers, stream(), max_files=MAX_FILES, max_fields=MAX_FIELDS)
        form = await parser.parse()
    except MultiPartException:
        raise InvalidRows(
            f"the multipart body does not parse, or holds more than {MAX_FILES} files or "
            f"{MAX_FIELDS} other fields (send one file per row, at most {MAX_FILES} per request)"
        ) from None
    try:
        return [await value.read() for _, value in form.multi_items() if not isinstance(value, str)]
    finally:
        await form.close()
