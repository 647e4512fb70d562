"""Settings from environment variables (contract section 0).

Every setting has an env var and an embedded default so that ``cds-service serve`` works on
a fresh machine with no configuration at all.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
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
    #: Relevant resources whose facts are remembered between calls (cds_service.record.memo);
    #: 0 turns the memo off.
    record_memo_entries: int = Field(default=8192, ge=0)
    fhir_connect_timeout_s: float = 2.0
    fhir_total_timeout_s: float = 5.0
    fhir_max_response_bytes: int = 10 * 1024 * 1024
    fhir_max_pages: int = 10
    jwks_cache_seconds: int = 3600
    jwt_max_lifetime_s: int = Field(default=3600, ge=1)
    jti_store: str = "memory"  # "memory" or "database"
    # Slow clients (issue 11): a body must arrive in time; few may be arriving at once.
    body_read_timeout_s: float = Field(default=10.0, gt=0)
    max_concurrent_uploads: int = Field(default=32, ge=1)
    # Database timeouts (issue 11): a frozen database costs a bounded wait, then a 503.
    db_connect_timeout_s: float = Field(default=2.0, gt=0)
    db_statement_timeout_s: float = Field(default=5.0, gt=0)
    log_level: str = "INFO"

    # Decision audit and analytics (issue 12, contract section 4).
    analytics_token: SecretStr | None = None  # unset or empty: /analytics is 404
    audit_retention_days: int = Field(default=365, ge=1)
    audit_flush_interval_s: float = Field(default=1.0, gt=0)
    audit_max_pending: int = Field(default=100_000, ge=1)

    @field_validator("analytics_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

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


class ConfigurationError(Exception):
    """Settings the service refuses to start with; the message says what to set."""


def check_startable(settings: Settings) -> None:
    """Raise :class:`ConfigurationError` for a configuration that must not serve calls.

    Contract section 0: with ``CDS_AUTH_REQUIRED=true`` the JWT ``aud`` is checked against
    ``CDS_PUBLIC_BASE_URL``; without it the audience would follow the request's ``Host``
    header, and a token minted for another CDS service would be accepted.
    """
    if settings.auth_required and not (settings.public_base_url or "").strip():
        raise ConfigurationError(
            "CDS_AUTH_REQUIRED=true needs CDS_PUBLIC_BASE_URL: set it to the service's "
            "external base URL (e.g. https://cds.example.org), the URL EHRs put in the JWT "
            "'aud' claim. Refusing to start."
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process; tests build their own ``Settings`` instead."""
    return Settings()
