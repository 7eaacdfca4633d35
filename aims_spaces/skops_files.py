"""skops files of scikit-learn originals: audited without loading, loaded trusting only
scikit-learn, numpy and scipy types."""

from __future__ import annotations

from typing import Any

from .errors import InvalidModel

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


def load_skops(data: bytes) -> Any:
    """Rebuild a scikit-learn object from a skops file (client side only; the hub never loads)."""
    import skops.io

    check_skops(data)
    return skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
