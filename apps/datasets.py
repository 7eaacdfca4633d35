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


RATE, SECONDS = 8000, 0.5


def tones(n: int, seed: int):
    """Half-second clips: a low hum (150-300 Hz) or a whistle (900-1800 Hz), with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(RATE * SECONDS)) / RATE
    clips, labels = [], []
    for _ in range(n):
        label = "whistle" if rng.random() < 0.5 else "hum"
        f = rng.uniform(900, 1800) if label == "whistle" else rng.uniform(150, 300)
        wave = 0.5 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) + 0.05 * rng.standard_normal(len(t))
        clips.append((wave.astype(np.float32), RATE))
        labels.append(label)
    return clips, labels


def moving_squares(n: int, seed: int):
    """Eight 16×16 frames of a bright square moving left or right."""
    rng = np.random.default_rng(seed)
    videos, labels = [], []
    for _ in range(n):
        label = "right" if rng.random() < 0.5 else "left"
        y, step = int(rng.integers(2, 10)), (1 if label == "right" else -1)
        x0 = 1 if label == "right" else 10
        frames = np.zeros((8, 16, 16), dtype=np.uint8)
        for i in range(8):
            x = x0 + step * i
            frames[i, y : y + 4, x : x + 4] = 220
        videos.append(frames)
        labels.append(label)
    return videos, labels
