"""The audit of skops files (scikit-learn originals): which types a file would build, read from
its schema without building anything. The hub only audits; the client loads (see
:func:`aims_spaces.client.conversion.sklearn.load_skops`)."""

from __future__ import annotations

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
