"""Governance's section of the settings (``SESSIONSYNC_POLICY_FILE``, the GeoIP database, the
country header): declared beside the policy and composed into
:class:`~asgi_sessionsync.settings.Settings`. A leaf module (the settings' parsers, the policy)."""

from __future__ import annotations

from dataclasses import dataclass

from asgi_sessionsync.governance.policy import Policy
from asgi_sessionsync.settings.parsers import _field, _optional_str


def _policy(variable: str, text: str) -> Policy | None:
    return Policy.load(text.strip(), variable=variable) if text.strip() else None


@dataclass(frozen=True)
class GovernanceSettings:
    """The session policy and where a session's country comes from (docs/governance.md)."""

    policy: Policy | None = _field(
        "POLICY_FILE",
        _policy,
        None,
        "Session policy (TOML): limits, IP ranges and idle timeouts, per role; see docs/governance.md.",
    )
    geoip_database: str | None = _field(
        "GEOIP_DATABASE", _optional_str, None, "MaxMind-format database giving a session's country (needs maxminddb)."
    )
    country_header: str | None = _field(
        "COUNTRY_HEADER",
        _optional_str,
        None,
        "Header giving the country (e.g. CF-IPCountry), believed only from SESSIONSYNC_TRUSTED_PROXIES.",
    )
