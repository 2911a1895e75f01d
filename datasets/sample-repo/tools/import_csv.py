#!/usr/bin/env python3
"""Import stock counts from a supplier CSV into ledger movements."""

import csv
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Count:
    sku: str
    quantity: int


class ImportError_(Exception):
    """A row that cannot be imported, with its line number."""

    def __init__(self, line, message):
        super().__init__(f"line {line}: {message}")
        self.line = line


class CsvImporter:
    """Reads `sku,quantity` rows, skipping blank lines and comments."""

    def __init__(self, strict=True):
        self.strict = strict
        self.errors = []

    def parse_row(self, line, row):
        if len(row) != 2:
            raise ImportError_(line, f"expected 2 columns, got {len(row)}")
        sku, raw = row[0].strip(), row[1].strip()
        if not sku:
            raise ImportError_(line, "empty sku")
        try:
            quantity = int(raw)
        except ValueError:
            raise ImportError_(line, f"quantity {raw!r} is not a number") from None
        if quantity < 0:
            raise ImportError_(line, "negative quantity")
        return Count(sku, quantity)

    def read(self, stream):
        counts = []
        for line, row in enumerate(csv.reader(stream), start=1):
            if not row or row[0].startswith("#"):
                continue
            try:
                counts.append(self.parse_row(line, row))
            except ImportError_ as err:
                if self.strict:
                    raise
                self.errors.append(err)
        return counts


def main(argv):
    importer = CsvImporter(strict="--lenient" not in argv)
    counts = importer.read(sys.stdin)
    for count in counts:
        print(f"{count.sku}\t{count.quantity}")
    for err in importer.errors:
        print(err, file=sys.stderr)
    return 1 if importer.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
