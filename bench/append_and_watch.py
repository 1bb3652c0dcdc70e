"""The appender and the stopwatch of bench/collector_lag.sh.

Appends the generated NDJSON lines to one file in ten batches a second and, meanwhile, reads
the collector's status file every 50 ms: a batch counts as stored when the committed offset
of the file passes the batch's last byte (the offset is kept with the ingest that read it).
Prints the lag per batch (median, 95th percentile, worst) against the target, and exits 1
when the worst misses it.
"""

import argparse
import glob
import json
import os
import statistics
import sys
import threading
import time


def committed_offset(status_path, file_path):
    try:
        with open(status_path, encoding="utf-8") as f:
            status = json.load(f)
    except (OSError, ValueError):
        return 0  # not written yet, or being replaced
    for entry in status.get("files", []):
        if os.path.realpath(entry["path"]) == os.path.realpath(file_path):
            return entry["offset"]
    return 0


def main():
    p = argparse.ArgumentParser()
    for name in ("logs", "file", "status", "binary"):
        p.add_argument(f"--{name}", required=True)
    for name in ("rate", "duration", "interval"):
        p.add_argument(f"--{name}", type=int, required=True)
    args = p.parse_args()

    lines = []
    for path in sorted(glob.glob(os.path.join(args.logs, "**", "*.ndjson"), recursive=True)):
        with open(path, "rb") as f:
            lines.extend(line for line in f if line.strip())
    per_batch = max(1, args.rate // 10)
    batches = [lines[i : i + per_batch] for i in range(0, len(lines), per_batch)]
    written = []  # (time, end offset) per batch
    stored_at = {}
    done = threading.Event()

    def watch():
        while not done.is_set() or len(stored_at) < len(written):
            offset = committed_offset(args.status, args.file)
            now = time.monotonic()
            for i, (_, end) in enumerate(list(written)):
                if i not in stored_at and offset >= end:
                    stored_at[i] = now
            if done.is_set() and now - written[-1][0] > args.interval + 60:
                return  # given up: reported as not stored
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    start = time.monotonic()
    offset = 0
    with open(args.file, "ab", buffering=0) as out:
        for i, batch in enumerate(batches):
            due = start + i / 10
            time.sleep(max(0.0, due - time.monotonic()))
            chunk = b"".join(batch)
            out.write(chunk)
            offset += len(chunk)
            written.append((time.monotonic(), offset))
    appended = time.monotonic() - start
    done.set()
    watcher.join()

    events = sum(len(b) for b in batches)
    lags = [stored_at[i] - t for i, (t, _) in enumerate(written) if i in stored_at]
    missing = len(written) - len(lags)
    target = args.interval + 5
    print(
        f"appended {events} events in {appended:.1f} s ({events / appended:,.0f} events/s) "
        f"with {os.path.basename(args.binary)} collect --interval {args.interval}"
    )
    if lags:
        lags.sort()
        p95 = lags[min(len(lags) - 1, int(len(lags) * 0.95))]
        print(
            f"lag per append: median {statistics.median(lags):.2f} s, p95 {p95:.2f} s, "
            f"worst {lags[-1]:.2f} s; target {target} s (interval + 5): "
            f"{'met' if not missing and lags[-1] <= target else 'missed'}"
        )
    if missing:
        print(f"{missing} of {len(written)} appends never stored")
    sys.exit(0 if not missing and lags and lags[-1] <= target else 1)


if __name__ == "__main__":
    main()
