"""Small data sets generated in code, for demos and tests (nothing is downloaded)."""

from __future__ import annotations

import numpy as np
import pandas as pd

_POSITIVE = ["great", "wonderful", "loved", "brilliant", "moving", "superb", "funny", "charming", "best"]
_NEGATIVE = ["awful", "boring", "hated", "dull", "terrible", "worst", "weak", "clumsy", "tedious"]
_NEUTRAL = ["the", "film", "plot", "acting", "story", "cast", "ending", "was", "and", "a", "really", "music"]


def movie_reviews(n: int = 400, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    """Short made-up film reviews labelled positive or negative (with some noise words and a few
    mixed reviews, so models do not all score 100%)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = "positive" if rng.random() < 0.5 else "negative"
        main, other = (_POSITIVE, _NEGATIVE) if label == "positive" else (_NEGATIVE, _POSITIVE)
        words = list(rng.choice(_NEUTRAL, size=rng.integers(4, 9)))
        words += list(rng.choice(main, size=rng.integers(1, 3)))
        if rng.random() < 0.25:
            words += list(rng.choice(other, size=1))
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(label)
    return pd.Series(texts, name="text"), pd.Series(labels, name="label")
