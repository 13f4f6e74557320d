"""A parser of nccl-tests output, written for nccl-tests (not for ubemu).

It reads what scripts around nccl-tests read: the ``# nThread`` run line, the device lines,
every table row (the thirteen whitespace-separated columns of nccl-tests >= 2.10: size,
count, type, redop, root, then time, algbw, busbw, #wrong out of place and in place) and the
``# Out of bounds values`` and ``# Avg bus bandwidth`` lines. Columns after the thirteenth are
named by the header's titles (nccl-tests' ``-S 1`` timestamp takes two fields). The tests
run real nccl-tests output (``tests/cli/samples/``) and ubemu's tables through it.
"""

import re

#: The thirteen columns of a row, in order.
COLUMNS = ("size", "count", "type", "redop", "root", "time", "algbw", "busbw", "wrong",
           "in_place_time", "in_place_algbw", "in_place_busbw", "in_place_wrong")
_TYPES = {"size": int, "count": int, "root": int, "time": float, "algbw": float,
          "busbw": float, "in_place_time": float, "in_place_algbw": float,
          "in_place_busbw": float}


def _wrong(text):
    return None if text == "N/A" else int(float(text))


def _row(fields, extra_titles):
    row = {}
    for name, text in zip(COLUMNS, fields):
        row[name] = _wrong(text) if name.endswith("wrong") else _TYPES.get(name, str)(text)
    rest = list(fields[len(COLUMNS):])
    for title in extra_titles:
        take = 2 if title == "timestamp" else 1
        row[title], rest = " ".join(rest[:take]), rest[take:]
    return row


def parse(text):
    """The parts of nccl-tests output a script reads.

    Returns
    -------
    dict
        ``run``: the ``# nThread`` line's fields (``nThread``, ``nGpus``, ``minBytes``, ...);
        ``devices``: the ``#  Rank`` lines' count; ``rows``: one dict per table row
        (:data:`COLUMNS`; ``wrong`` None where N/A; extra columns by title);
        ``out_of_bounds``: ``(count, ok)`` per table; ``avg_busbw``: per table.
    """
    out = {"run": {}, "devices": 0, "rows": [], "out_of_bounds": [], "avg_busbw": []}
    extra_titles = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "#":
            body = fields[1:]
            if body[:1] == ["nThread"]:
                out["run"] = dict(re.findall(r"([A-Za-z][\w ]*?):?\s+(\d+)", line[1:]))
            elif body[:1] == ["Rank"]:
                out["devices"] += 1
            elif "size" in body and "busbw" in body:
                extra_titles = body[body.index("#wrong", body.index("busbw") + 2) + 1:] \
                    if body.count("#wrong") >= 2 else []
            elif line.startswith("# Out of bounds values"):
                count, verdict = line.split(":", 1)[1].split()[:2]
                out["out_of_bounds"].append((int(count), verdict == "OK"))
            elif line.startswith("# Avg bus bandwidth"):
                out["avg_busbw"].append(float(line.split(":", 1)[1]))
            continue
        if len(fields) >= len(COLUMNS) and fields[0].isdigit():
            out["rows"].append(_row(fields, extra_titles))
    return out
