"""A small MaxMind-format country database, written for a test with mmdb-writer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def write_country_database(path: Path, networks: Mapping[str, str]) -> Path:
    """``networks`` maps CIDR → ISO country code, as GeoLite2-Country records them."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    for network, code in networks.items():
        writer.insert_network(IPSet([network]), {"country": {"iso_code": code}})
    writer.to_db_file(str(path))
    return path
