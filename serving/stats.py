"""Request counts and latency percentiles per playground, mergeable across replicas.

Latencies go into fixed log-spaced buckets (5% wide), so replicas can add their histograms
together and percentiles stay within 5% of the truth at any volume, in constant memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from aims_spaces.domain import LatencySummary

_MIN_MS = 0.01
_RATIO = 1.05
_BUCKETS = 400  # 0.01 ms .. ~3 h


def _bucket(ms: float) -> int:
    if ms <= _MIN_MS:
        return 0
    return min(int(math.log(ms / _MIN_MS, _RATIO)) + 1, _BUCKETS - 1)


def _upper(bucket: int) -> float:
    return _MIN_MS * _RATIO**bucket


@dataclass
class LatencyStats:
    requests: int = 0
    errors: int = 0
    counts: dict[int, int] = field(default_factory=dict)  # bucket -> requests

    def record(self, ms: float, error: bool = False) -> None:
        self.requests += 1
        if error:
            self.errors += 1
        b = _bucket(ms)
        self.counts[b] = self.counts.get(b, 0) + 1

    def merge(self, other: LatencyStats) -> None:
        self.requests += other.requests
        self.errors += other.errors
        for b, n in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + n

    def percentile(self, q: float) -> float | None:
        total = sum(self.counts.values())
        if total == 0:
            return None
        rank = q / 100 * total
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return round(_upper(b), 3)
        return round(_upper(max(self.counts)), 3)

    def summary(self) -> LatencySummary:
        return LatencySummary(
            requests=self.requests,
            errors=self.errors,
            p50_ms=self.percentile(50),
            p95_ms=self.percentile(95),
            p99_ms=self.percentile(99),
        )

    def to_dict(self) -> dict[str, object]:
        return {"requests": self.requests, "errors": self.errors, "counts": dict(self.counts)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> LatencyStats:
        counts = {int(k): int(v) for k, v in dict(data.get("counts", {})).items()}  # type: ignore[arg-type]
        return cls(requests=int(data.get("requests", 0)), errors=int(data.get("errors", 0)), counts=counts)  # type: ignore[arg-type]
