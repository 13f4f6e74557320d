"""Published measurements, one CSV file per source in ``docs/data/``.

Every file has a header with at least these columns (others are kept in ``Row.extra``):

``id``
    unique across all files;
``system``
    the measured machine in words (rows are summarised per system);
``kind``
    what was measured: a collective (``all_reduce``, ...) or another registered kind
    (:mod:`.kinds`);
``topo``, ``group``
    the preset (or TOML file, or string form) that stands for the machine, and the ``--group``
    spec of the ranks the measurement used (empty: every NPU);
``size_B``
    the size as the source states it (nccl-tests: the buffer size);
``metric``
    what ``published`` is: ``busbw_GBps``, ``algbw_GBps``, ``time_us`` or another unit a kind
    names (``tflops_per_npu``);
``published``
    the measured figure;
``settings``
    ``key=value`` pairs separated by ``;``: the library settings the source names
    (``algorithm=ring``) and a kind's own inputs;
``role``
    ``fit`` (a training row: parameters were fitted on it) or ``validate`` (never fitted);
``source_title``, ``source_url``
    where the figure comes from (table, figure or post).
"""

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UbemuError

#: Columns every measurement file must have.
COLUMNS = ("id", "system", "kind", "topo", "group", "size_B", "metric", "published",
           "settings", "role", "source_title", "source_url")
ROLES = ("fit", "validate")


@dataclass(frozen=True)
class Row:
    """One published measurement (the module docstring says what each field holds)."""

    id: str
    system: str
    kind: str
    topo: str
    group: str
    size_B: int
    metric: str
    published: float
    settings: dict
    role: str
    source_title: str
    source_url: str
    path: str = ""
    extra: dict = field(default_factory=dict)


def parse_settings(text, where):
    """``"algorithm=ring; channels=8"`` -> ``{"algorithm": "ring", "channels": "8"}``."""
    out = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise UbemuError(f"{where}: settings: {part!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def _number(text, column, where, kind=float):
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise UbemuError(f"{where}: column {column!r}: {text!r} is not a number") from None


def read_rows(path):
    """The rows of one measurement file, checked; a bad file is one line naming the line."""
    path = Path(path)
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise UbemuError(f"{path}: missing columns {', '.join(missing)}")
            rows = []
            for line, raw in enumerate(reader, start=2):
                where = f"{path}:{line}"
                if raw["role"] not in ROLES:
                    raise UbemuError(f"{where}: role {raw['role']!r}; valid: "
                                     f"{', '.join(ROLES)}")
                extra = {k: v for k, v in raw.items() if k not in COLUMNS and k is not None}
                rows.append(Row(raw["id"], raw["system"], raw["kind"], raw["topo"],
                                raw["group"] or "", _number(raw["size_B"], "size_B", where, int),
                                raw["metric"], _number(raw["published"], "published", where),
                                parse_settings(raw["settings"], where), raw["role"],
                                raw["source_title"], raw["source_url"], str(path), extra))
    except OSError as exc:
        raise UbemuError(f"cannot read {path}: {exc.strerror}") from None
    return rows


def read_all(paths):
    """The rows of every file, ids checked unique."""
    rows, seen = [], {}
    for path in paths:
        for row in read_rows(path):
            if row.id in seen:
                raise UbemuError(f"{row.path}: id {row.id!r} is also in {seen[row.id]}")
            seen[row.id] = row.path
            rows.append(row)
    return rows


def default_files(root=None):
    """The measurement files of ``docs/data/`` (under ``root``, default the working
    directory), sorted."""
    base = Path(root or ".") / "docs" / "data"
    files = sorted(p for p in base.glob("*.csv") if _has_columns(p))
    if not files:
        raise UbemuError(f"no measurement files (CSV with the columns {', '.join(COLUMNS)}) "
                         f"in {base}; name them on the command line")
    return files


def _has_columns(path):
    with path.open(newline="") as f:
        header = next(csv.reader(f), [])
    return all(c in header for c in COLUMNS)
