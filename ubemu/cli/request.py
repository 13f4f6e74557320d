"""The sweep plan: every choice of one ``ubemu <collective>`` command line, checked.

:func:`plan_from_args` turns the parsed flags into a :class:`SweepPlan` or raises a one-line
:class:`~ubemu.errors.UbemuError`; nothing runs and nothing is printed before it returns, so
bad input leaves stdout empty.
"""

from dataclasses import dataclass, field, replace
from typing import NamedTuple

from .. import collectives
from ..data.dtypes import ALIASES as DTYPE_ALIASES
from ..data.dtypes import DTYPES, OPS, check_op
from ..errors import UbemuError
from ..units import format_size, parse_size_bytes
from .names import parse_names

#: Most sizes one sweep may have.
MAX_SIZES = 10000
#: Seeds accepted by ``--seed`` (NumPy seeds are unsigned; 64-bit keeps JSON readers exact).
SEED_RANGE = (0, 2**63 - 1)
#: Default ``-i/--stepbytes`` when neither ``-f`` nor ``-i`` is given (nccl-tests: 1M).
DEFAULT_STEP_NBYTES = 2**20
#: ``simulate`` parameters that ``-O`` may not set, and the flag that sets each instead.
RESERVED_OPTIONS = {"collective": "the command", "nbytes": "-b/-e", "topology": "--topo",
                    "algorithm": "--algo", "dtype": "-d", "op": "-o", "group": "--group",
                    "verify": "-c", "seed": "--seed", "root": "-r/--root",
                    "per_level": "--per-level", "every": "--every",
                    "faults": "--faults", "routing": "--routing", "traffic": "--traffic",
                    "protocol": "--protocol"}


class Job(NamedTuple):
    """One row of a sweep: the requested algorithm, data type, op, root (None: the
    collective has none) and size."""

    algorithm: str
    dtype: str
    op: str
    root: object
    nbytes: int


@dataclass(frozen=True)
class DtypeSizes:
    """The sizes one data type runs: the requested ones rounded down to whole elements.

    Attributes
    ----------
    itemsize_nbytes : int
        Bytes per element.
    unit_nbytes : int
        Sizes are multiples of this (one element, or one element per rank for the
        collectives made of one block per rank).
    sizes_nbytes : tuple of int
        The sizes kept, in sweep order (zeros and repeats dropped).
    """

    itemsize_nbytes: int
    unit_nbytes: int
    sizes_nbytes: tuple


@dataclass(frozen=True)
class SweepPlan:
    """Everything one collective sweep runs; built by :func:`plan_from_args`.

    Attributes
    ----------
    collective : str
    topology : ubemu.machine.topology.Topology
    n_ranks : int
        Ranks of the group (every NPU without ``--group``).
    sizes_nbytes : tuple of int
        The sizes requested by ``-b -e -f/-i``, before rounding per data type.
    dtypes, ops, algorithms : tuple of str
        In the order the tables run (algorithm outermost, then dtype, op, root, size).
    options : dict
        Extra keyword arguments of ``simulate`` (``-O``, ``--per-level``; the root is the
        job's).
    roots : tuple of int
        The roots a rooted collective runs (``-r``; ``-r all`` or ``-1``: every rank, as in
        nccl-tests); ``(None,)`` for the others.
    per_dtype : dict of str to DtypeSizes
    check : bool
        ``-c 1``: run the data plane and check it.
    group : str or None
        The ``--group`` text.
    seed : int
    max_work : int or None
        ``--max-work``: the transfers above which a run is refused (None: the default).
    min_nbytes, max_nbytes : int
        ``-b`` and ``-e``.
    stepfactor : int or None
        ``-f`` (None when stepping by ``step_nbytes``: as in nccl-tests, a factor of 1 or
        less steps by ``-i``, and a factor above 1 wins over ``-i``).
    step_nbytes : int
        ``-i``.
    output_file : str or None
    n_groups : int
        ``--every``: the groups of the kind ``--group`` names, run at once (1 otherwise).
    faults, routing : str
        ``--faults`` (None: none) and ``--routing``; ``topology`` carries them applied.
    ranks_from : str or None
        Why the group is the topology's first NPUs (``-t 1 x -g 8``; hccl_test's ``-p``).
    extra, timestamps : bool
        ``--extra`` (ubemu's table columns) and nccl-tests' ``-S 1``.
    csv_file : str or None
        ``--csv``.
    left_out : tuple of (str, str, str, object, int, UbemuError)
        The rows (algorithm, dtype, op, root, size) the preflight found too much work or memory
        for, and why (:func:`preflight`); ``jobs`` runs the others.
    row_s : tuple of float
        Each job's predicted wall seconds (:func:`ubemu.algorithms.work.predicted_wall_s`): the
        progress estimate's weights.
    protocol : str
        ``--protocol``: ``auto`` or one protocol (:mod:`ubemu.timing.protocols`).
    """

    collective: str
    topology: object
    n_ranks: int
    sizes_nbytes: tuple
    dtypes: tuple
    ops: tuple
    algorithms: tuple
    options: dict
    per_dtype: dict
    check: bool
    group: str | None
    seed: int
    min_nbytes: int
    max_nbytes: int
    stepfactor: int | None
    step_nbytes: int
    output_file: str | None = None
    max_work: int | None = None
    n_groups: int = 1
    faults: str | None = None
    routing: str = "minimal"
    roots: tuple = (None,)
    ranks_from: str | None = None
    extra: bool = False
    timestamps: bool = False
    csv_file: str | None = None
    left_out: tuple = ()
    row_s: tuple = ()
    protocol: str = "auto"
    jobs: tuple = field(init=False, repr=False)

    def __post_init__(self):
        skip = {row[:5] for row in self.left_out}
        jobs = tuple(Job(a, dt, op, r, s) for a in self.algorithms for dt in self.dtypes
                     for op in self.ops for r in self.roots
                     for s in self.per_dtype[dt].sizes_nbytes
                     if (a, dt, op, r, s) not in skip)
        object.__setattr__(self, "jobs", jobs)

    @property
    def n_jobs(self):
        """Rows the sweep prints (one ``simulate`` each)."""
        return len(self.jobs)

    def command_record(self):
        """The command as the ``-J`` document's ``command`` field records it."""
        return {"collective": self.collective, "dtypes": list(self.dtypes),
                "ops": list(self.ops), "algorithms": list(self.algorithms),
                "check": self.check, "group": self.group, "seed": self.seed,
                "min_nbytes": self.min_nbytes, "max_nbytes": self.max_nbytes,
                "stepfactor": self.stepfactor, "step_nbytes": self.step_nbytes,
                "options": dict(self.options), "max_work": self.max_work,
                "every": self.n_groups > 1, "faults": self.faults, "routing": self.routing,
                "roots": list(self.roots), "protocol": self.protocol}


# -- pieces ------------------------------------------------------------------------------------
def sweep_sizes(min_nbytes, max_nbytes, factor=None, step_nbytes=None):
    """nccl-tests' size sweep: multiply by ``factor`` or add ``step_nbytes`` until past the max.

    Returns
    -------
    list of int
        Sizes in bytes from ``min_nbytes`` up to at most ``max_nbytes``.
    """
    if min_nbytes > max_nbytes:
        raise UbemuError(f"-b/--minbytes {min_nbytes} is larger than -e/--maxbytes {max_nbytes}")
    if factor is not None and not factor > 1:
        raise UbemuError(f"-f/--stepfactor must be > 1 (a factor between sizes), got {factor}")
    if factor is None and step_nbytes < 1:
        raise UbemuError(f"-i/--stepbytes must be >= 1, got {step_nbytes}")
    if factor is not None and min_nbytes < 1 and max_nbytes > 0:
        raise UbemuError("-b/--minbytes must be >= 1 with -f/--stepfactor")
    sizes, s = [], min_nbytes
    while s <= max_nbytes:
        sizes.append(s)
        if len(sizes) > MAX_SIZES:
            raise UbemuError(f"the sweep has more than {MAX_SIZES} sizes; raise -f or -i")
        s = int(s * factor) if factor is not None else s + step_nbytes
        if s == sizes[-1]:  # -b 0 with -f: 0 * factor stays 0 (a factor near 1 on 1 B too)
            break
    return sizes


def round_sizes(sizes_nbytes, unit_nbytes):
    """Round sizes down to multiples of ``unit_nbytes``; drop zeros and repeats (in order)."""
    out = [s // unit_nbytes * unit_nbytes for s in sizes_nbytes]
    return list(dict.fromkeys(s for s in out if s > 0))


def parse_options(pairs):
    """``-O KEY=VALUE`` pairs into a dict; values become int or float when they parse.

    Keys that ``simulate`` takes as its own parameters are refused, naming their flag.
    """
    options = {}
    for pair in pairs or ():
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise UbemuError(f"-O/--option: expected KEY=VALUE, got {pair!r}")
        if key in RESERVED_OPTIONS:
            raise UbemuError(f"-O/--option: {key} is set by {RESERVED_OPTIONS[key]}, "
                             f"not by -O")
        for conv in (int, float):
            try:
                value = conv(value)
                break
            except ValueError:
                pass
        options[key] = value
    return options


def check_seed(seed):
    """``--seed``: an integer in :data:`SEED_RANGE`; returns it."""
    lo, hi = SEED_RANGE
    if isinstance(seed, bool) or not isinstance(seed, int) or not lo <= seed <= hi:
        raise UbemuError(f"--seed must be an integer from {lo} to {hi} (2**63 - 1), "
                         f"got {seed!r}")
    return seed


def check_max_work(text):
    """``--max-work``: a positive whole number of transfers (``2e10`` allowed); None stays."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= 1 and value.is_integer()):
        raise UbemuError(f"--max-work must be a positive whole number of transfers such as "
                         f"5000000000 or 5e9, got {text!r}")
    return int(value)


def check_algorithms(collective, algorithms, comm, options):
    """Refuse, before anything runs, an algorithm that cannot run on ``comm`` with
    ``options`` (the message the builder would give at the first row)."""
    from ..algorithms import get_algorithm

    for name in algorithms:
        if name != "auto":
            get_algorithm(collective, name).check_fits(comm, options)


def per_level_choices(collective):
    """Names ``--per-level`` accepts for ``collective`` (None: left to the algorithm).

    The per-level phases registered for the phase kinds a hierarchical ``collective`` runs
    (an all-reduce runs reduce-scatter and all-gather phases below its top level).
    """
    from ..algorithms.libraries import LIBRARY_LEVELS
    from .algorithms import phase_registry

    kinds = {"all_reduce": ("reduce_scatter", "all_gather", "all_reduce")}.get(
        collective, (collective,))
    names = sorted({name for kind, name in phase_registry() if kind in kinds})
    if collective == "all_reduce":  # a library's pick per level (innet: NVLSTree)
        names += sorted(LIBRARY_LEVELS)
    return names or None


def _dtypes_and_ops(args, coll):
    dtypes = parse_names(args.datatype, list(DTYPES), "-d", "datatype", aliases=DTYPE_ALIASES,
                         all_word="all", fold_case=True)
    ops = parse_names(args.op, list(OPS), "-o", "reduction op", all_word="all")
    if not coll.reducing:
        ops = ["sum"]  # nccl-tests: no reduction, the redop column says none
    for dt in dtypes:
        for op in ops:
            check_op(dt, op)
    return dtypes, ops


def _options(args, coll):
    options = parse_options(args.option)
    if args.per_level:
        valid = per_level_choices(coll.name)
        names = (parse_names(args.per_level, valid, "--per-level",
                             f"{coll.name} per-level algorithm", unique=False)
                 if valid is not None else [n.strip() for n in args.per_level.split(",")])
        options["per_level"] = names[0] if len(names) == 1 else tuple(names)  # one: every level
    if getattr(args, "traffic", None) is not None:
        options["traffic"] = args.traffic
    return options


def _roots(text, coll, n_ranks):
    """``-r``: one root, or ``all`` / ``-1`` for every rank (nccl-tests); ``(None,)`` for a
    collective without a root (which ignores ``-r``, as nccl-tests does)."""
    if not coll.rooted:
        return (None,)
    if text is None:
        return (0,)
    text = str(text).strip()
    if text.lower() in ("all", "-1"):
        return tuple(range(n_ranks))
    try:
        root = int(text)
    except ValueError:
        root = None
    if root is None or not 0 <= root < n_ranks:
        raise UbemuError(f"-r/--root: expected a rank 0..{n_ranks - 1} or all (-1), got "
                         f"{text!r}")
    return (root,)


def _group(args, topology):
    """``--group``, or the topology's first NPUs when the rank count is given (nccl-tests'
    ``-t``/``-g``, hccl_test's ``-p``): ``(group, why)``."""
    ranks = getattr(args, "ranks", None)
    if ranks is None and (getattr(args, "ngpus", None) is not None
                          or getattr(args, "nthreads", None) is not None):
        from ..parallel import env
        from .ncclflags import requested_ranks

        ranks = requested_ranks(args, env.world_size())
    if ranks is None:
        return args.group, None
    n, why = ranks
    if args.group is not None:
        from ..machine.groups import group_of

        have = group_of(topology, args.group).n
        if have != n:
            raise UbemuError(f"{why} gives {n} ranks but --group {args.group} has {have}; "
                             f"drop one of them")
        return args.group, why
    if n > topology.n_npus:
        raise UbemuError(f"{why} gives {n} ranks but topology {topology.name} has "
                         f"{topology.n_npus} NPUs; give a larger --topo")
    return f"start=0,count={n}", why


def preflight(plan, comm):
    """Check every row of every algorithm of ``plan`` (work and memory, in closed form: no
    schedule is built) before the first one runs: ``plan`` with the rows that do not fit
    left out (``left_out``, named in one header line, :func:`left_out_line`) and each row's
    predicted seconds (``row_s``).

    Raises
    ------
    UbemuError
        The first row's refusal when no row fits.
    """
    from ..algorithms import work
    from ..api import check_resources
    from ..data.check import exact_run_complete, needs_random_run
    from ..data.dtypes import get_dtype
    from ..data.memory import OutOfMemory, available_bytes
    from ..parallel.exchange import exchange

    ex = exchange()  # every process leaves out the same rows: process 0's memory decides
    available = ex.bcast(available_bytes() if ex.rank == 0 else None)
    coll = collectives.get(plan.collective)
    max_work = work.MAX_WORK if plan.max_work is None else plan.max_work
    left, row_s = [], []
    for job in plan.jobs:
        algo, op, dt = job.algorithm, job.op, get_dtype(job.dtype)
        count = coll.element_count(job.nbytes, dt.itemsize, comm.n)
        try:
            predicted = check_resources(plan.collective, algo, comm, count, plan.topology, dt,
                                        op, plan.check, max_work, plan.n_groups,
                                        {**plan.options, **_root_option(job.root)}, available)
        except (work.TooMuchWork, OutOfMemory) as exc:
            left.append((*job, exc))
            continue
        if predicted is None:
            predicted = work.auto_guess(comm.n)
        runs = (1 + (not exact_run_complete(plan.collective, comm.n, dt, op))
                + needs_random_run(plan.collective, dt, op)) if plan.check else 0
        row_s.append(work.predicted_wall_s(predicted.times(plan.n_groups), comm.n * count,
                                           runs))
    if left and len(left) == len(plan.jobs):
        raise left[0][-1]
    return replace(plan, left_out=tuple(left), row_s=tuple(row_s))


def left_out_line(plan):
    """The ``#`` line naming the rows :func:`preflight` left out, and why (None: none)."""
    from ..algorithms.work import TooMuchWork
    from ..data.memory import GiB

    if not plan.left_out:
        return None
    groups, limits = {}, {}  # (algorithm [dtype op], kind) -> sizes; kind -> the limit
    for algo, dt, op, _, nbytes, exc in plan.left_out:
        if isinstance(exc, TooMuchWork):
            kind, figure = "work", f"{exc.work.transfers:.3g} transfers"
            limits[kind] = f"over --max-work {exc.max_work:.3g}"
        else:
            kind, figure = "memory", f"{exc.need_bytes / GiB:.1f} GiB"
            limits[kind] = f"over the {exc.available_bytes / GiB:.1f} GiB of memory available"
        label = " ".join([algo] + ([dt] if len(plan.dtypes) > 1 else [])
                         + ([op] if len(plan.ops) > 1 else []))
        groups.setdefault((label, kind), []).append(f"{format_size(nbytes)} ({figure})")
    parts = [f"{label} at {', '.join(sizes)}: {limits[kind]}"
             for (label, kind), sizes in groups.items()]
    n_rows = len(plan.jobs) + len(plan.left_out)
    return (f"# Left out, {len(plan.left_out)} of {n_rows} rows (too big for this run): "
            f"{'; '.join(parts)}")


def plan_from_args(args):
    """Check the command line of a collective sweep and return its :class:`SweepPlan`.

    Raises
    ------
    UbemuError
        For any bad value, naming the flag (nothing has run yet).
    """
    from ..algorithms import algorithm_names
    from ..machine.faultreport import check_group
    from ..machine.groups import every_group, group_of
    from ..machine.spec import load_topology, with_params
    from .faults import apply

    coll = collectives.get(args.collective)
    min_nbytes = parse_size_bytes(args.minbytes, field="-b/--minbytes")
    max_nbytes = parse_size_bytes(args.maxbytes, field="-e/--maxbytes")
    factor = args.stepfactor if args.stepfactor is not None and args.stepfactor > 1 else None
    step_nbytes = (parse_size_bytes(args.stepbytes, field="-i/--stepbytes")
                   if args.stepbytes is not None else DEFAULT_STEP_NBYTES)
    sizes = sweep_sizes(min_nbytes, max_nbytes, factor, step_nbytes)
    dtypes, ops = _dtypes_and_ops(args, coll)
    algos = parse_names(args.algo, ["auto", *algorithm_names(coll.name)], "--algo",
                        f"{coll.name} algorithm")
    options = _options(args, coll)
    seed = check_seed(args.seed)
    if args.check < 0:
        raise UbemuError(f"-c/--check must be >= 0 (checks; 0: none), got {args.check}")
    topology = apply(with_params(load_topology(args.topo), args.param), args)
    group, ranks_from = _group(args, topology)
    if args.every and group is None:
        raise UbemuError("--every runs every group of the kind --group names; give --group "
                         "(unit=, one_per= or levels=)")
    comm, rows = every_group(topology, group) if args.every else (
        group_of(topology, group), None)
    n_groups = 1 if rows is None else rows.shape[0]
    check_group(topology, comm.npus if rows is None else rows)
    n_ranks = comm.n
    roots = _roots(args.root, coll, n_ranks)
    check_algorithms(coll.name, algos, comm, {**options, **_root_option(roots[0])})
    per_dtype = {}
    for dt in dtypes:
        itemsize = DTYPES[dt].itemsize
        unit = itemsize * (n_ranks if coll.blocked else 1)
        per_dtype[dt] = DtypeSizes(itemsize, unit, tuple(round_sizes(sizes, unit)))
        if not per_dtype[dt].sizes_nbytes:
            raise UbemuError(f"{coll.name}: every size from -b {min_nbytes} to -e {max_nbytes} "
                             f"is below one {dt} element per rank ({unit} B)")
    max_work = check_max_work(args.max_work)
    plan = SweepPlan(collective=coll.name, topology=topology, n_ranks=n_ranks,
                     sizes_nbytes=tuple(sizes), dtypes=tuple(dtypes), ops=tuple(ops),
                     algorithms=tuple(algos), options=options, per_dtype=per_dtype,
                     check=args.check > 0, group=group, seed=seed,
                     min_nbytes=min_nbytes, max_nbytes=max_nbytes, stepfactor=factor,
                     step_nbytes=step_nbytes, output_file=args.output_file,
                     max_work=max_work, n_groups=n_groups, faults=args.faults,
                     routing=args.routing, roots=roots, ranks_from=ranks_from,
                     extra=bool(getattr(args, "extra", False)),
                     timestamps=bool(getattr(args, "report_timestamps", 0)),
                     csv_file=getattr(args, "csv", None), protocol=args.protocol)
    return preflight(plan, comm)


def _root_option(root):
    """The ``root=`` keyword of ``simulate`` for a job's root (none without one)."""
    return {} if root is None else {"root": root}
