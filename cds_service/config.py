"""Settings from environment variables (contract section 0).

Every setting has an env var and an embedded default so that ``cds-service serve`` works on
a fresh machine with no configuration at all.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cds_service.database import DatabaseTimeouts


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Service configuration; field names map to ``CDS_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore")

    database_url: str = "sqlite:///./cds_feedback.db"
    allowed_fhir_servers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    auth_required: bool = False
    trusted_issuers: dict[str, str] = Field(default_factory=dict)
    public_base_url: str | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    #: ``/demo`` calls the service without a token: by default it is served only with auth off.
    demo_enabled: bool | None = None

    # Limits (issue 5). Defaults are generous for real EHR traffic and small for abuse.
    max_body_bytes: int = 5 * 1024 * 1024
    max_json_depth: int = 64
    max_resources: int = 20_000
    fhir_connect_timeout_s: float = 2.0
    fhir_total_timeout_s: float = 5.0
    fhir_max_response_bytes: int = 10 * 1024 * 1024
    fhir_max_pages: int = 10
    jwks_cache_seconds: int = 3600
    jti_store: str = "memory"  # "memory" or "database"
    # Slow clients (issue 11): a body must arrive in time; few may be arriving at once.
    body_read_timeout_s: float = Field(default=10.0, gt=0)
    max_concurrent_uploads: int = Field(default=32, ge=1)
    # Database timeouts (issue 11): a frozen database costs a bounded wait, then a 503.
    db_connect_timeout_s: float = Field(default=2.0, gt=0)
    db_statement_timeout_s: float = Field(default=5.0, gt=0)
    log_level: str = "INFO"

    @property
    def demo_served(self) -> bool:
        """``CDS_DEMO_ENABLED`` when set, else on exactly when authentication is off."""
        return self.demo_enabled if self.demo_enabled is not None else not self.auth_required

    def database_timeouts(self) -> DatabaseTimeouts:
        """The timeouts every engine and database call of the service uses."""
        return DatabaseTimeouts(self.db_connect_timeout_s, self.db_statement_timeout_s)

    @field_validator("allowed_fhir_servers", "cors_origins", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process; tests build their own ``Settings`` instead."""
    return Settings()
