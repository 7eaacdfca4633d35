"""The audit of skops files (scikit-learn originals): which types a file would build, read from
its schema without building anything. The hub only audits; the client loads (see
:func:`aims_spaces.client.conversion.sklearn.load_skops`)."""

from __future__ import annotations

import io
import json
import zipfile

from ..errors import InvalidModel

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def untrusted_types(data: bytes) -> list[str]:
    """Types the file names outside the trusted libraries. Reads the schema, builds nothing."""
    import skops.io

    try:
        names = skops.io.get_untrusted_types(data=data)
    except Exception as e:  # zipfile/json errors for anything that is not a skops file
        raise InvalidModel(f"the original model is not a readable skops file: {e}") from None
    return [t for t in names if not t.startswith(TRUSTED_PREFIXES)]


def check_skops(data: bytes) -> None:
    unsafe = untrusted_types(data)
    if unsafe:
        raise InvalidModel(
            f"the skops file references types outside scikit-learn, numpy and scipy: {unsafe[:10]}"
        )


def skops_class_name(data: bytes) -> str | None:
    """The class name of the object a skops file holds (``Pipeline``, ``RandomForestClassifier``),
    read from its schema without building anything; None when the file does not say."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            info = z.getinfo("schema.json")
            if info.file_size > 16 * 2**20:  # a schema that large is not a model's
                return None
            schema = json.loads(z.read(info))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return None
    name = schema.get("__class__") if isinstance(schema, dict) else None
    return name[:128] if isinstance(name, str) else None
