"""The hub's settings: one object, read once from ``AIMS_*`` environment variables.

Tests and embedding code build :class:`Settings` directly instead of patching globals.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".aims_spaces"


class Settings(BaseSettings):
    """Everything a hub needs to start. Every field can be set as ``AIMS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="AIMS_", extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Directory for the registry, artifacts, private eval data and credentials.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the registry. Default: SQLite file `<home>/registry.db`.",
    )
    artifact_url: str | None = Field(
        default=None,
        description="fsspec URL of the artifact store. Default: `<home>/artifacts` on local disk.",
    )
    evaldata_dir: Path | None = Field(
        default=None,
        description="Directory of the private eval-data repo. Default: `<home>/evaldata`.",
    )
    host: str = Field(default="127.0.0.1", description="Interface the hub's HTTP server binds.")
    port: int = Field(default=7860, description="Port of the hub's HTTP server (REST + UI).")
    public_url: str | None = Field(
        default=None, description="URL people use to reach the hub, if not http://host:port."
    )
    ray_address: str | None = Field(
        default=None, description="Ray cluster to join (`auto`, `ray://…`). Default: start one."
    )
    ray_num_cpus: int | None = Field(
        default=None, description="CPUs a locally started Ray may use. Default: all cores."
    )
    evaluator_num_cpus: float = Field(
        default=0.5, gt=0, description="CPUs one evaluator task reserves in Ray."
    )
    evaluator_max_retries: int = Field(
        default=3, ge=0, description="Times Ray re-runs an evaluator whose worker died."
    )
    bootstrap_samples: int = Field(
        default=1000, ge=0, description="Resamples for the 95% interval of the ranking metric."
    )
    max_upload_mb: float = Field(
        default=512, gt=0, description="Largest request body (model, predictions, data) in MiB."
    )
    daily_submission_limit: int = Field(
        default=5, ge=1, description="Default competition submissions per participant per day."
    )
    serve_host: str = Field(default="127.0.0.1", description="Interface of the prediction endpoint.")
    serve_port: int = Field(default=8000, description="Port of the prediction endpoint (Ray Serve).")
    serve_fast_ingress: bool = Field(
        default=True,
        description="Use Ray Serve's HAProxy ingress (about 10x the throughput of its default "
        "proxy; HAProxy's stats and metrics ports then listen on all interfaces).",
    )
    serve_stats_port: int = Field(default=8404, description="HAProxy stats page (fast ingress).")
    serve_metrics_port: int = Field(default=9101, description="HAProxy Prometheus metrics (fast ingress).")
    serve_ingress_threads: int = Field(
        default=1,
        ge=1,
        description="HAProxy threads (fast ingress); one keeps up with the replicas of a small machine.",
    )
    serve_ingress_request_metrics: bool = Field(
        default=False,
        description="HAProxy also reports every request to Ray's serve_num_http_* metrics (fast "
        "ingress); costs ~20% of a core at full load. The deployments' own Serve metrics and "
        "HAProxy's exporter stay on either way.",
    )
    serve_replicas: int = Field(
        default=2, ge=1, description="Model-server replicas (fixed count); two use both cores of a laptop."
    )
    serve_max_replicas: int | None = Field(
        default=None, description="Set above serve_replicas to autoscale between the two."
    )
    serve_replica_cpus: float = Field(default=0.25, gt=0, description="CPUs one replica reserves in Ray.")
    serve_max_ongoing_requests: int = Field(
        default=64, ge=1, description="Requests one replica takes at once before Serve queues."
    )
    model_cache_size: int = Field(
        default=8, ge=1, description="ONNX sessions one replica keeps loaded (LRU)."
    )
    batch_max_size: int = Field(
        default=64, ge=1, description="Most rows the model server runs in one call (batching)."
    )
    batch_wait_ms: float = Field(
        default=0.5, ge=0, description="How long a request waits for others to batch with."
    )
    seed_demos: bool = Field(
        default=True, description="On the first start, create demo playgrounds with scored models."
    )
    admin_username: str = Field(default="admin", description="User created on the first start.")

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value: object) -> object:
        if isinstance(value, str):
            return Path(value).expanduser()
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'registry.db'}"

    @property
    def resolved_artifact_url(self) -> str:
        return self.artifact_url or str(self.home / "artifacts")

    @property
    def resolved_evaldata_dir(self) -> Path:
        return self.evaldata_dir or self.home / "evaldata"

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def admin_credentials_path(self) -> Path:
        return self.home / "admin_credentials.json"

    @property
    def serve_url(self) -> str:
        return f"http://{self.serve_host}:{self.serve_port}"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
