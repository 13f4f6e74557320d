"""The ``-J`` result documents: building, writing row by row (atomically) and reading them.

A document (sorted keys)::

    ubemu             version of ubemu that wrote it
    command           the sweep's flags (collective, dtypes, ops, algorithms, sizes, ...)
    topology          name, n_npus, description, source, levels (exact string form of each
                      level), level_fields (every field of each level), params
    n_ranks           ranks of the group
    n_procs           MPI processes of the job (1 outside MPI)
    peak_memory_mib   peak resident memory of each process, MiB, when the last row was written
    n_rows_planned    rows the sweep was to run
    left_out          rows the preflight left out (too much work or memory), each with its
                      algorithm, dtype, op, nbytes and the one-line reason (only when any)
    complete          true once every row ran
    error             the one-line error that stopped the sweep (only then)
    records           one record per row: Result.to_dict() + requested_algorithm + root

While a sweep runs the file is rewritten after every row through a temporary file and a
rename, so a job killed at any moment leaves a valid document of the rows done so far.

Every output file of every command (``-J``, ``--trace``, ``plot -o``) is written by
:func:`replace_atomically` (a temporary file beside the target, then a rename; the mode of the
file replaced or from the umask; through a symbolic link to its target) after
:func:`check_outputs` refused, before any work, an output that is one of the command's inputs
or another of its outputs.
"""

import json
import math
import os
import stat
import tempfile
from dataclasses import asdict
from pathlib import Path

from .. import __version__
from ..errors import UbemuError
from .table import root_label

#: Name of the document's list of records; a bare list of records is also accepted.
RECORDS_KEY = "records"
#: Fields every record must have to be plotted.
REQUIRED_FIELDS = ("collective", "algorithm", "topology", "nbytes", "time_s", "busbw_GBps")
_RECORDS_TOKEN = "\x00records\x00"


def record(result, **extra):
    """A JSON-ready dict: every :meth:`Result.to_dict` field plus ``extra`` keys."""
    return {**result.to_dict(), **extra}


def _plain(obj):
    """json.dumps ``default``: NumPy scalars and arrays, tuples and sets become plain values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(document):
    """Serialise a document deterministically (sorted keys, fixed indentation)."""
    return json.dumps(document, indent=1, sort_keys=True, default=_plain) + "\n"


def _cannot_write(flag, path, exc):
    reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
    return UbemuError(f"{flag}: cannot write {str(path)!r} ({reason})")


def target_path(path):
    """The file an output path writes: ``path`` with every symbolic link followed (also a
    dangling one: its target is created), so a link stays a link and its target is
    replaced."""
    return Path(os.path.realpath(path))


def _same_file(a, b):
    """True when paths ``a`` and ``b`` name one file (after links; hard links too)."""
    if target_path(a) == target_path(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


def check_outputs(outputs, inputs=(), writable=True):
    """Refuse, before any work, outputs that would lose data or cannot be written.

    Every command checks its outputs here first: an output equal to one of its inputs (the
    run would overwrite what it reads) or to another of its outputs (one would overwrite the
    other) is refused in one line; with ``writable`` each output is then
    :func:`check_writable`.

    Parameters
    ----------
    outputs : iterable of (str, path or None)
        ``(flag, path)`` of each output file (None: not asked for).
    inputs : iterable of (str, path or None)
        ``(what, path)`` of each input; a value that names no existing file (a preset
        name, a topology string) is no file and is skipped.
    writable : bool
        Also check that each output can be written (process 0 of an MPI job only).
    """
    outputs = [(flag, path) for flag, path in outputs if path is not None]
    inputs = [(what, path) for what, path in inputs
              if path is not None and os.path.isfile(path)]
    for k, (flag, path) in enumerate(outputs):
        for what, src in inputs:
            if _same_file(path, src):
                raise UbemuError(f"{flag}: {str(path)!r} is {what} {str(src)!r}; writing it "
                                 f"would overwrite the input: choose another file")
        for other, path2 in outputs[:k]:
            if _same_file(path, path2):
                raise UbemuError(f"{flag}: {str(path)!r} is also the {other} file; one "
                                 f"would overwrite the other: give each output its own file")
    if writable:
        for flag, path in outputs:
            check_writable(path, flag)


def check_writable(path, flag):
    """Refuse an output path that cannot be written, before anything runs.

    A temporary file is created next to the file ``path`` writes (:func:`target_path`) and
    removed again; ``path`` itself is not touched.

    Parameters
    ----------
    path : str or Path
    flag : str
        The flag that named it (``"-J/--output_file"``), for the error message.

    Returns
    -------
    Path
    """
    path = Path(path)
    try:
        target = target_path(path)
        if target.is_dir():
            raise UbemuError(f"{flag}: {str(path)!r} is a directory, not a file")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except (OSError, ValueError) as exc:
        raise _cannot_write(flag, path, exc) from None
    os.close(fd)
    os.unlink(tmp)
    return path


def _umask():
    """The process's umask (read without changing it where Linux says it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_mode(target):
    """Permission bits of an output: those of the file it replaces, else ``0o666`` less the
    umask (what ``open(path, "w")`` would give)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def replace_atomically(path, write, flag, mode="w"):
    """Write ``path`` through a temporary file beside it and a rename: never a half file.

    Every output of every command is written here. ``write(f)`` writes the content to the
    open temporary file. A symbolic link is followed: its target is replaced and the link
    stays. The file gets the permission bits of the file it replaces, else those the umask
    gives a new file. On any failure, also an interrupt, the temporary file is removed and
    ``path`` keeps its previous content.
    """
    target = target_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except (OSError, ValueError) as exc:
        raise _cannot_write(flag, path, exc) from None
    try:
        os.fchmod(fd, _new_mode(target))
        with os.fdopen(fd, mode) as f:
            write(f)
        os.replace(tmp, target)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise _cannot_write(flag, path, exc) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def write_json_atomic(path, document, flag="-J/--output_file"):
    """Write ``document`` to ``path`` atomically (see :func:`replace_atomically`)."""
    text = dumps(document)
    replace_atomically(path, lambda f: f.write(text), flag)


def topology_record(topology):
    """The document's ``topology``: what names the machine and every parameter of it."""
    return {"name": topology.name, "n_npus": topology.n_npus,
            "description": topology.description, "source": topology.source,
            "levels": topology.describe_levels(),
            "level_fields": [{**asdict(lv), "spec": lv.spec} for lv in topology.levels],
            "params": asdict(topology.params)}


class ResultWriter:
    """The ``-J`` document of one sweep, rewritten after every row.

    Each record is serialised once; a rewrite joins the cached texts, so the file equals
    ``dumps(document)`` byte for byte at every moment.

    Parameters
    ----------
    path : str or Path or None
        ``-J``; None keeps the document in memory only.
    plan : ubemu.cli.request.SweepPlan
    n_procs : int
        Processes of the MPI job.
    """

    def __init__(self, path, plan, n_procs=1):
        self.path = path
        self.head = {"ubemu": __version__, "command": plan.command_record(),
                     "topology": topology_record(plan.topology), "n_ranks": plan.n_ranks,
                     "n_procs": n_procs, "peak_memory_mib": [],
                     "n_rows_planned": plan.n_jobs, "complete": False}
        if getattr(plan, "left_out", ()):
            self.head["left_out"] = [
                {"algorithm": a, "dtype": dt, "op": op, "root": root, "nbytes": nbytes,
                 "reason": str(exc)}
                for a, dt, op, root, nbytes, exc in plan.left_out]
        self.records, self._texts = [], []

    def add(self, requested_algorithm, result, peak_memory_mib=None):
        """Append the record of one finished row and rewrite the file."""
        rec = record(result, requested_algorithm=requested_algorithm,
                     root=root_label(result.collective, result))
        self.records.append(rec)
        self._texts.append(json.dumps(rec, indent=1, sort_keys=True, default=_plain))
        self.write(peak_memory_mib)

    def finish(self, peak_memory_mib=None, error=None):
        """Mark the sweep complete (or stopped by ``error``) and rewrite the file."""
        if error is None:
            self.head["complete"] = True
        else:
            self.head["error"] = error
        self.write(peak_memory_mib)

    def document(self):
        """The document as it stands (a new dict)."""
        return {**self.head, RECORDS_KEY: list(self.records)}

    def text(self):
        """``dumps(self.document())``, from the cached record texts."""
        head = dumps({**self.head, RECORDS_KEY: _RECORDS_TOKEN})
        if self._texts:
            body = ",\n".join("\n".join("  " + ln for ln in t.splitlines()) for t in self._texts)
            listed = f"[\n{body}\n ]"
        else:
            listed = "[]"
        return head.replace(json.dumps(_RECORDS_TOKEN), listed, 1)

    def write(self, peak_memory_mib=None):
        """Rewrite the file (atomically) with the rows so far; nothing without a path."""
        if peak_memory_mib is not None:
            self.head["peak_memory_mib"] = [round(float(m), 1) for m in peak_memory_mib]
        if self.path is not None:
            text = self.text()
            replace_atomically(self.path, lambda f: f.write(text), "-J/--output_file")


def load_document(path):
    """The parsed JSON of a file written by ``-J``."""
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise UbemuError(f"{path}: cannot read result file ({exc.strerror})") from None
    except ValueError as exc:
        raise UbemuError(f"{path}: not valid JSON ({exc})") from None


def load_records(path, data=None):
    """Records of a JSON file written by ``-J`` (a document with ``records`` or a bare list;
    ``data``: the file's document, already read)."""
    data = load_document(path) if data is None else data
    recs = data.get(RECORDS_KEY) if isinstance(data, dict) else data
    if not isinstance(recs, list) or not all(isinstance(r, dict) for r in recs):
        raise UbemuError(f"{path}: expected a ubemu result file with a '{RECORDS_KEY}' list")
    for i, r in enumerate(recs):
        missing = [k for k in REQUIRED_FIELDS if k not in r]
        if missing:
            raise UbemuError(f"{path}: record {i} lacks field {missing[0]!r}")
        if not isinstance(r["time_s"], (int, float)) or math.isnan(r["time_s"]):
            raise UbemuError(f"{path}: record {i}: time_s must be a number")
    return recs
