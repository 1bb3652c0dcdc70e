"""Open a lockstep store the way an analyst would, with DuckDB, polars and pandas, and print
what each sees as JSON: row count, rows per event ID, and distinct computers.

Files are taken from the store's manifest (lockstep-store.json), as the README tells
analysts to do, so files of an unfinished ingest are never read.

usage: python3 read_store.py DATA_DIR
"""

import json
import os
import sys


def files(data):
    with open(os.path.join(data, "lockstep-store.json")) as f:
        manifest = json.load(f)
    return [os.path.join(data, entry["path"]) for entry in manifest["files"]]


def with_duckdb(paths):
    import duckdb

    con = duckdb.connect()
    rel = f"read_parquet({paths!r})"
    rows = con.execute(f"select count(*) from {rel}").fetchone()[0]
    by_id = dict(con.execute(f"select event_id, count(*) from {rel} group by event_id").fetchall())
    computers = con.execute(f"select count(distinct computer) from {rel}").fetchone()[0]
    # Timestamps must come back as UTC instants, not strings.
    first = con.execute(f"select min(time) from {rel}").fetchone()[0]
    assert first.tzinfo is not None, "time is timezone-aware"
    return rows, by_id, computers


def with_polars(paths):
    import polars as pl

    df = pl.read_parquet(paths)
    by_id = {int(r[0]): int(r[1]) for r in df.group_by("event_id").len().iter_rows()}
    assert str(df.schema["time"]).startswith("Datetime"), df.schema["time"]
    return df.height, by_id, df["computer"].n_unique()


def with_pandas(paths):
    import pandas as pd

    df = pd.concat([pd.read_parquet(p) for p in paths])
    by_id = {int(k): int(v) for k, v in df["event_id"].value_counts().items()}
    assert str(df["time"].dt.tz) == "UTC", df["time"].dt.tz
    return len(df), by_id, df["computer"].nunique()


if __name__ == "__main__":
    paths = files(sys.argv[1])
    out = {}
    for name, fn in [("duckdb", with_duckdb), ("polars", with_polars), ("pandas", with_pandas)]:
        rows, by_id, computers = fn(paths)
        out[name] = {"rows": rows, "by_id": {str(k): v for k, v in sorted(by_id.items())}, "computers": computers}
    json.dump(out, sys.stdout)
