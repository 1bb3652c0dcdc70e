"""The per-group report's queries in DuckDB, over the same Parquet files, for bench/report.sh.

Runs the same queries lockstep's report runs (host groups, apps per group, group context),
in the same shape, with the inventory as a CASE expression over the distinct computers, and
prints the wall time of all of them in seconds and the number of app rows.

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
    started = time.perf_counter()
    # The shape lockstep runs: the inventory applied once per distinct computer, the events
    # aggregated per (app, path, computer, user, version) before the join with the groups.
    con.execute(f"CREATE TEMP VIEW events AS SELECT * FROM read_parquet({files!r})")
    con.execute(f"""CREATE TEMP TABLE host_groups AS
        SELECT computer, computer_key, {group_case(inventory)} AS grp
        FROM (SELECT DISTINCT computer, computer_key FROM events)""")
    noise = "CASE WHEN collection = 'SCRIPT' THEN upper(coalesce(file_path, '')) LIKE '%\\_\\_PSSCRIPTPOLICYTEST\\_%' ESCAPE '\\' ELSE false END"
    generic = "regexp_replace(file_path, '^%OSDRIVE%\\\\USERS\\\\[^\\\\]+\\\\', '%OSDRIVE%\\\\USERS\\\\*\\\\')"
    apps = f"""WITH fine AS (
          SELECT computer, computer_key, collection, publisher, product, binary_name,
            CASE WHEN publisher IS NULL THEN file_hash END AS app_hash,
            file_path, user_sid, binary_version, binary_version_key,
            count(*) AS events, min(time) AS first_seen, max(time) AS last_seen
          FROM events WHERE policy_kind = 'applocker' AND outcome IN ('audit')
          GROUP BY ALL),
        apps AS (
          SELECT f.*, h.grp, {generic} AS generic_path,
            CASE WHEN publisher IS NULL AND app_hash IS NULL THEN {generic} END AS app_path
          FROM fine f JOIN host_groups h ON f.computer = h.computer WHERE NOT ({noise}))
      SELECT grp, collection, publisher, product, binary_name, app_hash, app_path,
        arg_min(binary_version, binary_version_key) AS version_min,
        arg_max(binary_version, binary_version_key) AS version_max,
        sum(events) AS events, count(DISTINCT computer_key) AS hosts, count(DISTINCT user_sid) AS users,
        list(DISTINCT user_sid) AS user_sids,
        min(first_seen) AS first_seen, max(last_seen) AS last_seen,
        count(DISTINCT generic_path) AS path_count, list(DISTINCT generic_path) AS paths
      FROM apps GROUP BY grp, collection, publisher, product, binary_name, app_hash, app_path
      ORDER BY grp, events DESC"""
    stats = f"""WITH per_host AS (
          SELECT computer, computer_key,
            max(CASE WHEN event_id <> 8001 THEN 1 ELSE 0 END) AS more_than_policy,
            sum(CASE WHEN outcome = 'audit' AND policy_kind = 'applocker' AND NOT ({noise}) THEN 1 ELSE 0 END) AS audit_events,
            sum(CASE WHEN policy_kind = 'applocker' AND outcome IN ('audit') AND ({noise}) THEN 1 ELSE 0 END) AS noise_events
          FROM events GROUP BY computer, computer_key),
        per_key AS (
          SELECT h.grp, p.computer_key, max(more_than_policy) AS more_than_policy,
            sum(audit_events) AS audit_events, sum(noise_events) AS noise_events
          FROM per_host p JOIN host_groups h ON p.computer = h.computer GROUP BY h.grp, p.computer_key)
      SELECT grp, count(*) AS hosts_reporting, sum(CASE WHEN more_than_policy = 0 THEN 1 ELSE 0 END),
        sum(audit_events), sum(noise_events) FROM per_key GROUP BY grp"""
    rows = con.execute(apps).fetchall()
    con.execute(stats).fetchall()
    elapsed = time.perf_counter() - started
    print(f"{elapsed:.3f} {len(rows)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
