"""Reads a workbook lockstep wrote with openpyxl (a real reader) and prints it as JSON:
per sheet its rows as lists, dates as ISO text, plus the frozen cell and the autofilter."""
import datetime
import json
import sys

import openpyxl


def value(v):
    if isinstance(v, datetime.datetime):
        return {"date": v.isoformat()}
    return v


book = openpyxl.load_workbook(sys.argv[1])
out = {}
for ws in book.worksheets:
    out[ws.title] = {
        "freeze": ws.freeze_panes,
        "filter": ws.auto_filter.ref,
        "rows": [[value(v) for v in row] for row in ws.iter_rows(values_only=True)],
    }
json.dump({"order": book.sheetnames, "sheets": out}, sys.stdout)
