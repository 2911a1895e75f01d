"""Reads every Parquet file hearth wrote under OUT with pyarrow, then each task folder
as one dataset (as users do), and prints the row count per folder as JSON."""
import json
import pathlib
import sys

import pyarrow.dataset as ds
import pyarrow.parquet as pq

out = pathlib.Path(sys.argv[1])
for path in sorted(out.rglob("*.parquet")):
    pq.read_table(path)
rows = {}
for folder in ("docs", "reviews", "embeddings"):
    if (out / folder).is_dir():
        rows[folder] = ds.dataset(out / folder, format="parquet").to_table().num_rows
print(json.dumps(rows))
