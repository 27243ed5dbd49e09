"""CSV fixtures behind the real connector interface.

The walking skeleton lands spend and deals from CSV so the whole path runs before the
API connectors exist; swapping a fixture for `yandex_direct` or `amocrm` changes nothing
downstream.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from connectors.base import DealRecord, SourceError, SpendRecord


class CsvConfig(BaseModel):
    path: Path
    account: str = "fixture"


def _rows(source: str, config: CsvConfig) -> Iterator[tuple[int, dict[str, str]]]:
    if not config.path.exists():
        raise SourceError(
            source,
            config.account,
            f"{config.path} does not exist",
            "Run `callpath demo` to generate fixtures or point the config at a file.",
        )
    with config.path.open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            yield line, {k: (v if v != "" else None) for k, v in row.items()}


class CsvSpendConnector:
    source = "csv_spend"

    def __init__(self, config: CsvConfig) -> None:
        self.config = config
        self.account = config.account

    def fetch(self, start: date, end: date) -> Iterator[SpendRecord]:
        for line, row in _rows(self.source, self.config):
            try:
                record = SpendRecord.model_validate(row)
            except ValidationError as exc:
                raise SourceError(
                    self.source,
                    self.account,
                    f"line {line}: {exc.errors()[0]['msg']}",
                    "Fix the row; nothing from this file was landed.",
                ) from exc
            if start <= record.date_day <= end:
                yield record


class CsvDealsConnector:
    source = "csv_deals"

    def __init__(self, config: CsvConfig) -> None:
        self.config = config
        self.account = config.account

    def fetch(self, updated_since: datetime) -> Iterator[DealRecord]:
        for line, row in _rows(self.source, self.config):
            try:
                record = DealRecord.model_validate(row)
            except ValidationError as exc:
                raise SourceError(
                    self.source,
                    self.account,
                    f"line {line}: {exc.errors()[0]['msg']}",
                    "Fix the row; nothing from this file was landed.",
                ) from exc
            if record.updated_at >= updated_since:
                yield record
