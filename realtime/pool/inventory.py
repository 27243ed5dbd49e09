"""Inventory CSV import: every row checked, bad rows reported by line, good rows kept.

Columns: number, region, city_code (optional), kind (dynamic|static, default dynamic),
company_id and channel (static numbers only).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from realtime.phones import to_e164
from realtime.pool.models import InventoryNumber

REGION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
REQUIRED = ("number", "region")


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


def parse_inventory_csv(path: Path) -> tuple[list[InventoryNumber], list[RowError]]:
    numbers: list[InventoryNumber] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            return [], [RowError(1, f"header lacks column(s): {', '.join(missing)}")]
        for line, row in enumerate(reader, start=2):
            row = {k: (v or "").strip() for k, v in row.items() if k}
            problem = _check(row, seen)
            if problem:
                errors.append(RowError(line, problem))
                continue
            try:
                number = InventoryNumber(
                    number=to_e164(row["number"]),
                    region=row["region"],
                    city_code=row.get("city_code") or None,
                    kind=row.get("kind") or "dynamic",
                    company_id=row.get("company_id") or None,
                    channel=row.get("channel") or None,
                )
            except ValidationError as exc:
                errors.append(RowError(line, exc.errors()[0]["msg"]))
                continue
            seen[number.number] = line
            numbers.append(number)
    return numbers, errors


def _check(row: dict[str, str], seen: dict[str, int]) -> str | None:
    e164 = to_e164(row.get("number"))
    if e164 is None:
        return f"{row.get('number')!r} is not a valid phone number"
    if e164 in seen:
        return f"{e164} repeats line {seen[e164]}"
    if not REGION.match(row.get("region", "")):
        return f"region {row.get('region')!r} is not ISO 3166-2 like RU-MOW"
    kind = row.get("kind") or "dynamic"
    if kind not in ("dynamic", "static"):
        return f"kind {kind!r} must be dynamic or static"
    if kind == "static" and not (row.get("company_id") and row.get("channel")):
        return "a static number needs company_id and channel (e.g. offline/billboard-msk)"
    if kind == "dynamic" and row.get("company_id"):
        return "dynamic numbers belong to the platform: leave company_id empty"
    return None
