"""Print the AppLocker-relevant fields of every record of an EVTX file, as one JSON list,
read by an independent parser: python-evtx (`pyevtx`) or libevtx's evtxexport (`libevtx`).

The Rust test `generate/tests/independent_parsers.rs` compares this with what the `evtx`
crate reads. Values are normalised only where the parsers are documented to render the same
value differently (shared/spec/evtx-format.md §4.10, §5.4): FileTime precision, Binary as
hex or base64, GUID case.

usage: python3 evtx_fields.py pyevtx|libevtx FILE
"""

import base64
import datetime
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

FIELDS = ["PolicyName", "FilePath", "FileHash", "Fqbn", "TargetUser", "Package"]


def local(tag):
    return tag.rsplit("}", 1)[-1]


def find(elem, name):
    for child in elem.iter():
        if local(child.tag) == name:
            return child
    return None


def micros(text):
    """An ISO-8601 instant in any of the three renderings, as integer microseconds (UTC)."""
    text = text.strip().replace(" ", "T")
    text = re.sub(r"(Z|\+00:00)$", "", text)
    whole, _, frac = text.partition(".")
    base = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    frac = (frac + "000000000")[:9]
    return int(base.timestamp()) * 1_000_000 + int(frac) // 1000


def normal_hash(text):
    text = (text or "").strip()
    if text.lower().startswith("0x"):
        return text[2:].upper()
    if re.fullmatch(r"[0-9A-Fa-f]{64}", text):
        return text.upper()
    return base64.b64decode(text).hex().upper()


def record(event):
    system = find(event, "System")
    out = {
        "Computer": find(system, "Computer").text,
        "EventID": int(find(system, "EventID").text),
        "Channel": find(system, "Channel").text,
        "Provider": find(system, "Provider").get("Name"),
        "TimeCreated": micros(find(system, "TimeCreated").get("SystemTime")),
        "EventRecordID": int(find(system, "EventRecordID").text),
    }
    data = find(event, "RuleAndFileData")
    if data is not None:
        for name in FIELDS:
            node = find(data, name)
            if node is not None:
                value = node.text or ""
                out[name] = normal_hash(value) if name == "FileHash" else value
    return out


def pyevtx(path):
    import Evtx.Evtx as evtx

    with evtx.Evtx(path) as log:
        return [record(ET.fromstring(r.xml())) for r in log.records()]


def libevtx(path):
    run = subprocess.run(["evtxexport", "-f", "xml", path], capture_output=True, check=True)
    if run.stderr.strip():
        raise SystemExit(f"evtxexport wrote to stderr: {run.stderr.decode(errors='replace')}")
    text = run.stdout.decode("utf-8")
    blocks = re.findall(r"<Event[ >].*?</Event>", text, flags=re.S)
    info = subprocess.run(["evtxinfo", path], capture_output=True, check=True, text=True).stdout
    if "Is corrupted" in info or "Number of recovered records\t: 0" not in info:
        raise SystemExit(f"evtxinfo reports damage:\n{info}")
    return [record(ET.fromstring(b)) for b in blocks]


if __name__ == "__main__":
    reader, path = sys.argv[1], sys.argv[2]
    records = {"pyevtx": pyevtx, "libevtx": libevtx}[reader](path)
    json.dump(records, sys.stdout)
