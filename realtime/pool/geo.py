"""Visitor region from IP, through a MaxMind-format database (GeoLite2-City in
production; a small synthetic one, built by `build_mmdb`, in tests and the demo)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

import maxminddb


class GeoResolver:
    def __init__(self, path: Path) -> None:
        self._reader = maxminddb.open_database(str(path))

    def region(self, ip: str | None) -> str | None:
        """ISO 3166-2 code (`RU-MOW`) of the IP's first subdivision, or None."""
        if not ip:
            return None
        try:
            record = self._reader.get(ip)
        except ValueError:  # not an IP address
            return None
        if not isinstance(record, dict):
            return None
        country = (record.get("country") or {}).get("iso_code")
        subdivisions = record.get("subdivisions") or []
        if not country or not subdivisions:
            return None
        return f"{country}-{subdivisions[0].get('iso_code')}"

    def close(self) -> None:
        self._reader.close()


@lru_cache(maxsize=4)
def open_resolver(path: str) -> GeoResolver:
    return GeoResolver(Path(path))


def build_mmdb(path: Path, networks: dict[str, str]) -> Path:
    """Write a City-shaped .mmdb mapping CIDRs to regions, e.g. {"10.1.0.0/16": "RU-MOW"}."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    for cidr, region in networks.items():
        ipaddress.ip_network(cidr)  # fail early, with the standard library's message
        country, subdivision = region.split("-", 1)
        writer.insert_network(
            IPSet([cidr]),
            {"country": {"iso_code": country}, "subdivisions": [{"iso_code": subdivision}]},
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path
