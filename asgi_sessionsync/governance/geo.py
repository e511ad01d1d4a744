"""Which country a request comes from: a MaxMind-format database, or a trusted proxy's header.

- ``SESSIONSYNC_GEOIP_DATABASE=/path/GeoLite2-Country.mmdb``: any MaxMind DB format
  file whose records carry ``country.iso_code`` (GeoIP2/GeoLite2 Country and City) or a
  top-level ``country_code`` / ``country`` string (DB-IP, IPinfo and similar), read
  with the ``maxminddb`` library (the ``governance`` extra). Opened once, memory-mapped;
  a lookup is a few microseconds.
- ``SESSIONSYNC_COUNTRY_HEADER=CF-IPCountry``: a header set by the proxy in front of
  the site, believed only when the request comes straight from one of
  ``SESSIONSYNC_TRUSTED_PROXIES`` (anyone else could send it).

With both, the header wins when it is believed. The answer is an upper-case ISO code,
or "" when unknown. Only asked when a session starts.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

from starlette.types import Scope

from asgi_sessionsync.client_ip import TrustedProxies
from asgi_sessionsync.exceptions import ConfigError

_CODE = re.compile(r"[A-Za-z][A-Za-z0-9]")
DATABASE_VARIABLE = "SESSIONSYNC_GEOIP_DATABASE"


def open_database(path: str, variable: str = DATABASE_VARIABLE) -> Any:
    """A ``maxminddb`` reader, or a :class:`ConfigError` naming what is wrong."""
    if importlib.util.find_spec("maxminddb") is None:
        raise ConfigError(
            variable, "reading a MaxMind database needs maxminddb: pip install 'asgi-sessionsync[governance]'"
        )
    import maxminddb

    try:
        return maxminddb.open_database(path)
    except FileNotFoundError:
        raise ConfigError(
            variable, f"no database file at {path}", f"{variable}=/var/lib/GeoLite2-Country.mmdb"
        ) from None
    except (OSError, ValueError) as error:
        raise ConfigError(variable, f"{path} is not a MaxMind database: {error}") from None


def _country_of(record: Any) -> str:
    if not isinstance(record, dict):
        return ""
    country = record.get("country")
    if isinstance(country, dict):
        code = country.get("iso_code")
    else:
        code = country if isinstance(country, str) else record.get("country_code")
    return str(code).upper() if isinstance(code, str) and _CODE.fullmatch(code) else ""


class Countries:
    """The country of a request, from the database and/or the trusted header."""

    def __init__(self, database: str | None, header: str | None, trusted: TrustedProxies) -> None:
        self.reader = open_database(database) if database else None
        self.header = header.strip().lower().encode("latin-1") if header else None
        self.trusted = trusted
        self.enabled = self.reader is not None or (self.header is not None and bool(trusted))

    def of(self, scope: Scope, host: str) -> str:
        if self.header is not None:
            client = scope.get("client")
            if self.trusted.trusts_peer(str(client[0]) if client and client[0] else None):
                for key, value in scope["headers"]:
                    if key == self.header:
                        code: str = value.decode("latin-1").strip()
                        if _CODE.fullmatch(code):
                            return code.upper()
                        break
        return self.lookup(host)

    def lookup(self, host: str) -> str:
        if self.reader is None or not host:
            return ""
        try:
            found: object = self.reader.get(host)
            return _country_of(found)
        except ValueError:  # not an IP address
            return ""

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
