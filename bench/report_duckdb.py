"""The per-group report's queries in DuckDB, over the same Parquet files, for bench/report.sh.

Runs the same two queries lockstep's report runs (apps per group, group context), with the
inventory turned into the same CASE expression, and prints the wall time of both in seconds.

usage: python3 bench/report_duckdb.py DATA_DIR INVENTORY_CSV
"""

import csv
import json
import os
import sys
import time

import duckdb


def q(text):
    return "'" + text.replace("'", "''") + "'"


def group_case(inventory):
    whens = []
    with open(inventory, newline="") as f:
        for row in csv.DictReader(f):
            pattern, group = row["computer"].strip().lower(), row["group"].strip()
            if "*" in pattern or "?" in pattern:
                like = pattern.replace("_", "\\_").replace("%", "\\%").replace("*", "%").replace("?", "_")
                cond = f"lower(computer) LIKE {q(like)} ESCAPE '\\' OR computer_key LIKE {q(like)} ESCAPE '\\'"
            elif "." in pattern:
                cond = f"lower(computer) = {q(pattern)} OR (strpos(computer, '.') = 0 AND computer_key = {q(pattern.split('.')[0])})"
            else:
                cond = f"computer_key = {q(pattern)}"
            whens.append(f"WHEN {cond} THEN {q(group)}")
    return "CASE " + " ".join(whens) + " ELSE 'unassigned' END" if whens else "'unassigned'"


def main(data, inventory):
    with open(os.path.join(data, "lockstep-store.json")) as f:
        files = [os.path.join(data, e["path"]) for e in json.load(f)["files"]]
    con = duckdb.connect()
    ev = f"""SELECT *, {group_case(inventory)} AS grp,
        regexp_replace(file_path, '^%OSDRIVE%\\\\USERS\\\\[^\\\\]+\\\\', '%OSDRIVE%\\\\USERS\\\\*\\\\') AS generic_path,
        upper(coalesce(file_path, '')) LIKE '%\\_\\_PSSCRIPTPOLICYTEST\\_%' ESCAPE '\\' AS noise
        FROM read_parquet({files!r})"""
    apps = f"""WITH ev AS ({ev}), apps AS (
        SELECT *, CASE WHEN publisher IS NULL THEN file_hash END AS app_hash,
          CASE WHEN publisher IS NULL AND file_hash IS NULL THEN generic_path END AS app_path
        FROM ev WHERE policy_kind = 'applocker' AND outcome IN ('audit') AND NOT noise)
      SELECT grp, collection, publisher, product, binary_name, app_hash, app_path,
        arg_min(binary_version, binary_version_key) AS version_min,
        arg_max(binary_version, binary_version_key) AS version_max,
        count(*) AS events, count(DISTINCT computer_key) AS hosts, count(DISTINCT user_sid) AS users,
        min(time) AS first_seen, max(time) AS last_seen,
        count(DISTINCT generic_path) AS path_count, list(DISTINCT generic_path) AS paths
      FROM apps GROUP BY ALL ORDER BY grp, events DESC"""
    stats = f"""WITH ev AS ({ev}), per_host AS (
        SELECT grp, computer_key,
          max(CASE WHEN event_id <> 8001 THEN 1 ELSE 0 END) AS more_than_policy,
          sum(CASE WHEN outcome = 'audit' AND policy_kind = 'applocker' AND NOT noise THEN 1 ELSE 0 END) AS audit_events,
          sum(CASE WHEN noise AND policy_kind = 'applocker' AND outcome IN ('audit') THEN 1 ELSE 0 END) AS noise_events
        FROM ev GROUP BY grp, computer_key)
      SELECT grp, count(*) AS hosts_reporting, sum(CASE WHEN more_than_policy = 0 THEN 1 ELSE 0 END),
        sum(audit_events), sum(noise_events) FROM per_host GROUP BY grp"""
    started = time.perf_counter()
    rows = con.execute(apps).fetchall()
    con.execute(stats).fetchall()
    elapsed = time.perf_counter() - started
    print(f"{elapsed:.3f} {len(rows)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
