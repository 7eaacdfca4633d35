"""The hub's settings: one object, read once from ``AIMS_*`` environment variables.

Tests and embedding code build :class:`Settings` directly instead of patching globals.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..core.limits import DecodeLimits, LimitFields

SPACE_STORAGE = Path("/data")


def _default_home() -> Path:
    # On a Hugging Face Space (SPACE_ID is set) with persistent storage, what lives elsewhere
    # is lost at every restart: keep the hub's files on the storage.
    if os.environ.get("SPACE_ID") and SPACE_STORAGE.is_dir() and os.access(SPACE_STORAGE, os.W_OK):
        return SPACE_STORAGE / "aims_spaces"
    return Path.home() / ".aims_spaces"


class Settings(BaseSettings, LimitFields):
    """Everything a hub needs to start. Every field can be set as ``AIMS_<FIELD>``; the bounds on
    decoding uploaded tables and media (``max_table_rows``, ``max_image_pixels``, …) are
    :class:`~aims_spaces.core.limits.LimitFields`."""

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
    evaldata_url: str | None = Field(
        default=None,
        description="fsspec URL of the private eval-data repo (a folder, `s3://…`, "
        "`hf://datasets/<owner>/<repo>`). Default: `<home>/evaldata` on local disk.",
    )
    host: str = Field(default="127.0.0.1", description="Interface the hub's HTTP server binds.")
    port: int = Field(default=7860, ge=1, le=65535, description="Port of the hub's HTTP server (REST + UI).")
    public_url: str | None = Field(
        default=None, description="URL people use to reach the hub, if not http://host:port."
    )
    ray_address: str | None = Field(
        default=None, description="Ray cluster to join (`auto`, `ray://…`). Default: start one."
    )
    ray_num_cpus: int | None = Field(
        default=None, ge=1, description="CPUs a locally started Ray may use. Default: all cores."
    )
    ray_token_auth: bool = Field(
        default=True,
        description="Ray's token authentication for a locally started Ray (token file, mode 0600, "
        "under AIMS_HOME): a local program without the token cannot join the hub's cluster.",
    )
    evaluator_num_cpus: float = Field(
        default=0.5, gt=0, description="CPUs one evaluator task reserves in Ray."
    )
    evaluator_resources: dict[str, float] = Field(
        default_factory=dict,
        description="Ray custom resources one evaluator task needs, as JSON "
        '(`{"evaluator": 1}` keeps evaluations on the nodes started with that resource).',
    )
    evaluator_max_retries: int = Field(
        default=3, ge=0, description="Times Ray re-runs an evaluator whose worker died."
    )
    bootstrap_samples: int = Field(
        default=1000, ge=0, description="Resamples for the 95% interval of the ranking metric."
    )
    max_upload_mb: float = Field(
        default=512, gt=0, description="Largest upload (a submission, a new playground's data) in MiB."
    )
    max_request_kb: float = Field(
        default=1024, gt=0, description="Largest body of every other request (JSON, forms) in KiB."
    )
    max_predict_mb: float = Field(
        default=32, gt=0, description="Largest body of one request to the prediction endpoint in MiB."
    )
    max_model_mb: float = Field(
        default=256,
        gt=0,
        description="Largest ONNX model (and its original) one submission may upload, in MiB.",
    )
    max_graph_nodes: int = Field(
        default=200_000, ge=1, description="Most nodes an ONNX graph may hold, subgraphs included."
    )
    evaluation_timeout_s: float = Field(
        default=300,
        gt=0,
        description="Wall-clock limit of one evaluation; a model that runs longer fails with "
        "'timed out after N s' and its evaluator slot is freed.",
    )
    model_load_timeout_s: float = Field(
        default=60, gt=0, description="Limit for a replica to load and warm one model."
    )
    predict_timeout_s: float = Field(
        default=30, gt=0, description="Limit for one prediction call of a served model."
    )
    serve_start_timeout_s: float = Field(
        default=300,
        gt=0,
        description="How long a start waits for the model server (Ray Serve's proxy and replicas) "
        "to answer; a first start on a busy or cold machine can take minutes.",
    )
    daily_submission_limit: int = Field(
        default=5,
        ge=1,
        le=10_000,
        description="Default scored submissions per participant per day while a competition is open.",
    )
    competition_score_digits: int | None = Field(
        default=4,
        ge=1,
        le=17,
        description="Significant digits of the scores participants see while a competition is "
        "open (full precision after the close; empty for full precision always).",
    )
    score_decimals: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Decimal places of every score the web pages show (boards, intervals, Compare, "
        "the Model tab; the standings CSV keeps full precision).",
    )
    token_ttl_days: float = Field(
        default=90, gt=0, description="API tokens (aims login, created users) expire after this many days."
    )
    session_ttl_hours: float = Field(
        default=168, gt=0, description="Web sessions (the login cookie) expire after this many hours."
    )
    login_failures_per_user: int = Field(
        default=10, ge=1, description="Failed logins allowed per username per login window."
    )
    login_failures_per_ip: int = Field(
        default=50, ge=1, description="Failed logins allowed per client address per login window."
    )
    login_window_s: float = Field(default=900, gt=0, description="The login rate-limit window, in seconds.")
    open_signup: bool = Field(
        default=False,
        description="Anyone may make an account at /signup (else only through a playground's invitation "
        "link, a roster import or an admin).",
    )
    signups_per_address: int = Field(
        default=20, ge=1, le=100_000, description="Sign-ups one client address may make per hour."
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Addresses of reverse proxies whose X-Forwarded-For the hub believes (comma-"
        "separated, as uvicorn takes them). Default: none, so a client cannot choose the address "
        "failed logins are counted against.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Other origins (e.g. https://lab.example.org) whose pages may call the hub "
        "with credentials. Default: none, same origin only.",
    )
    web_cache_max_age_s: float = Field(
        default=3600,
        gt=0,
        description="Files the web UI caches (uploads, downloads) are deleted after this age.",
    )
    user_max_running_evaluations: int = Field(
        default=2,
        ge=1,
        description="Evaluations of one ordinary account handed to Ray at once; its others wait "
        "their turn, so one account cannot take every evaluator (admins: no limit).",
    )
    user_max_playgrounds: int = Field(
        default=20, ge=0, description="Playgrounds one ordinary account may own (admins: no limit)."
    )
    user_max_storage_mb: float = Field(
        default=4096,
        ge=0,
        description="Bytes one ordinary account's uploads and playgrounds' data may take, in MiB.",
    )
    user_max_deployments: int = Field(
        default=3, ge=0, description="Deployed models one ordinary account's playgrounds may serve."
    )
    serve_host: str = Field(default="127.0.0.1", description="Interface of the prediction endpoint.")
    serve_port: int = Field(
        default=8000, ge=1, le=65535, description="Port of the prediction endpoint (Ray Serve)."
    )
    serve_fast_ingress: bool = Field(
        default=True,
        description="Use Ray Serve's HAProxy ingress (about 10x the throughput of its default proxy).",
    )
    serve_stats_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="HAProxy stats page (fast ingress), on the Serve host. Default: a free port.",
    )
    serve_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="HAProxy Prometheus metrics (fast ingress), on the Serve host. Default: a free port.",
    )
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
    serve_replica_resources: dict[str, float] = Field(
        default_factory=dict,
        description="Ray custom resources one model-server replica needs, as JSON "
        '(`{"replica": 1}` keeps replicas on the nodes started with that resource).',
    )
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
        default=True,
        description="Create the demo playgrounds with scored models; a start interrupted while making "
        "them finishes them at the next (AIMS_HOME/demos.json records the finished ones).",
    )
    admin_username: str = Field(default="admin", description="User created on the first start.")

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value: object) -> object:
        if isinstance(value, str):
            return Path(value).expanduser()
        return value

    @model_validator(mode="after")
    def _earlier_names(self) -> Settings:
        # AIMS_EVALDATA_DIR was this setting's name: a hub set up with it keeps its eval data.
        if self.evaldata_url is None and os.environ.get("AIMS_EVALDATA_DIR"):
            self.evaldata_url = os.environ["AIMS_EVALDATA_DIR"]
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'registry.db'}"

    @property
    def resolved_artifact_url(self) -> str:
        return self.artifact_url or str(self.home / "artifacts")

    @property
    def resolved_evaldata_url(self) -> str:
        return self.evaldata_url or str(self.home / "evaldata")

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

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_kb * 1024)

    @property
    def max_predict_bytes(self) -> int:
        return int(self.max_predict_mb * 1024 * 1024)

    @property
    def max_model_bytes(self) -> int:
        return int(self.max_model_mb * 1024 * 1024)

    @property
    def decode_limits(self) -> DecodeLimits:
        """The bounds every decode of an uploaded table or media file checks."""
        return DecodeLimits.of(self)

    @property
    def secure_cookies(self) -> bool:
        """Session cookies carry ``Secure`` when people reach the hub over https."""
        return (self.public_url or "").lower().startswith("https://")
