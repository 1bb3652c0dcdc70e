"""A candidate policy of RULES rules made from a store's own evidence, for bench/simulate.sh.

Publisher rules for the signed apps seen (product level, some binary level with a version
range), hash rules for unsigned files, path rules on folders, a few deny rules: the mix of
a large real policy, so every rule type is evaluated.

usage: python3 bench/make_policy.py DATA_DIR RULES > policy.xml
"""

import hashlib
import json
import os
import sys

import duckdb


def guid(text):
    h = hashlib.sha1(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def attr(text):
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


def main(data, total):
    with open(os.path.join(data, "lockstep-store.json")) as f:
        files = [os.path.join(data, e["path"]) for e in json.load(f)["files"]]
    con = duckdb.connect()
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet({files!r})")
    signed = con.execute("""SELECT collection, publisher, product, binary_name, min(binary_version_key)
        FROM events WHERE publisher IS NOT NULL AND collection IS NOT NULL
        GROUP BY ALL ORDER BY count(*) DESC""").fetchall()
    unsigned = con.execute("""SELECT collection, file_hash, any_value(file_path) FROM events
        WHERE publisher IS NULL AND file_hash IS NOT NULL AND collection IS NOT NULL
        GROUP BY ALL ORDER BY count(*) DESC""").fetchall()
    rules = {c: [] for c in ["Appx", "Dll", "Exe", "Msi", "Script"]}

    def add(collection, xml):
        name = {"APPX": "Appx", "DLL": "Dll", "EXE": "Exe", "MSI": "Msi", "SCRIPT": "Script"}[collection]
        rules[name].append(xml)

    count = 0
    for i, (coll, pub, prod, binary, vkey) in enumerate(signed):
        if count >= total * 6 // 10:
            break
        version = ".".join(str(int(p)) for p in vkey.split(".")) if vkey and i % 3 == 0 else "*"
        binary_name = binary if version != "*" and coll != "APPX" else "*"
        add(coll, f'<FilePublisherRule Id="{guid("p" + str(i))}" Name="p{i}" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions>'
            f'<FilePublisherCondition PublisherName="{attr(pub)}" ProductName="{attr(prod or "*")}" BinaryName="{attr(binary_name or "*")}">'
            f'<BinaryVersionRange LowSection="{version}" HighSection="*" /></FilePublisherCondition></Conditions></FilePublisherRule>')
        count += 1
    for i, (coll, h, path) in enumerate(unsigned):
        if count >= total * 9 // 10:
            break
        add(coll, f'<FileHashRule Id="{guid("h" + h)}" Name="h{i}" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FileHashCondition>'
            f'<FileHash Type="SHA256" Data="0x{h}" SourceFileName="{attr(path.rsplit(chr(92), 1)[-1])}" /></FileHashCondition></Conditions></FileHashRule>')
        count += 1
    i = 0
    while count < total:
        action = "Deny" if i % 5 == 0 else "Allow"
        path = f"%PROGRAMFILES%\\Vendor{i}\\*" if action == "Allow" else f"*\\blocked{i}.exe"
        add("EXE", f'<FilePathRule Id="{guid("f" + str(i))}" Name="f{i}" Description="" UserOrGroupSid="S-1-1-0" Action="{action}"><Conditions>'
            f'<FilePathCondition Path="{attr(path)}" /></Conditions>'
            f'<Exceptions><FilePathCondition Path="%PROGRAMFILES%\\Vendor{i}\\Uploads\\*" /></Exceptions></FilePathRule>')
        count += 1
        i += 1
    print('<AppLockerPolicy Version="1">')
    for name, items in rules.items():
        print(f'  <RuleCollection Type="{name}" EnforcementMode="Enabled">')
        for r in items:
            print("    " + r)
        print("  </RuleCollection>")
    print("</AppLockerPolicy>")
    print(f"{count} rules", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
