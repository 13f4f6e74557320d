"""The sweep plan: every choice of one ``ubemu <collective>`` command line, checked.

:func:`plan_from_args` turns the parsed flags into a :class:`SweepPlan` or raises a one-line
:class:`~ubemu.errors.UbemuError`; nothing runs and nothing is printed before it returns, so
bad input leaves stdout empty.
"""

from dataclasses import dataclass, field

from .. import collectives
from ..data.dtypes import ALIASES as DTYPE_ALIASES
from ..data.dtypes import DTYPES, OPS, check_op
from ..errors import UbemuError
from ..units import parse_size_bytes
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
                    "faults": "--faults", "routing": "--routing", "protocol": "--protocol"}


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
        In the order the tables run (algorithm outermost, then dtype, op, size).
    options : dict
        Extra keyword arguments of ``simulate`` (``-O``, ``-r``, ``--per-level``).
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
        ``-f`` (None when stepping by ``step_nbytes``).
    step_nbytes : int
        ``-i``.
    output_file : str or None
    n_groups : int
        ``--every``: the groups of the kind ``--group`` names, run at once (1 otherwise).
    faults, routing : str
        ``--faults`` (None: none) and ``--routing``; ``topology`` carries them applied.
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
    protocol: str = "auto"
    jobs: tuple = field(init=False, repr=False)

    def __post_init__(self):
        jobs = tuple((a, dt, op, s) for a in self.algorithms for dt in self.dtypes
                     for op in self.ops for s in self.per_dtype[dt].sizes_nbytes)
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
                "protocol": self.protocol}


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
    if factor is not None and factor < 2:
        raise UbemuError(f"-f/--stepfactor must be an integer >= 2, got {factor}")
    if factor is None and step_nbytes < 1:
        raise UbemuError(f"-i/--stepbytes must be >= 1, got {step_nbytes}")
    if factor is not None and min_nbytes < 1 and max_nbytes > 0:
        raise UbemuError("-b/--minbytes must be >= 1 with -f/--stepfactor")
    sizes, s = [], min_nbytes
    while s <= max_nbytes:
        sizes.append(s)
        if len(sizes) > MAX_SIZES:
            raise UbemuError(f"the sweep has more than {MAX_SIZES} sizes; raise -f or -i")
        s = s * factor if factor is not None else s + step_nbytes
        if s == sizes[-1]:  # -b 0 with -f: 0 * factor stays 0
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
    from .algorithms import phase_registry

    kinds = {"all_reduce": ("reduce_scatter", "all_gather", "all_reduce")}.get(
        collective, (collective,))
    names = sorted({name for kind, name in phase_registry() if kind in kinds})
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
    if args.root is not None:
        if not coll.rooted:
            rooted = [c.name for c in collectives.COLLECTIVES.values() if c.rooted]
            raise UbemuError(f"-r/--root: {coll.name} has no root; only "
                             f"{' and '.join(rooted)} take one")
        options["root"] = args.root
    if args.per_level:
        valid = per_level_choices(coll.name)
        names = (parse_names(args.per_level, valid, "--per-level",
                             f"{coll.name} per-level algorithm", unique=False)
                 if valid is not None else [n.strip() for n in args.per_level.split(",")])
        options["per_level"] = names[0] if len(names) == 1 else tuple(names)  # one: every level
    return options


def _check_work(coll, algorithms, comm, topology, per_dtype, options, max_work, n_groups):
    """Refuse up front a named algorithm whose largest size is predicted to be too much work
    (:mod:`ubemu.algorithms.work`: the same refusal ``simulate`` would give at that row)."""
    from ..algorithms import work

    for name in algorithms:
        if name == "auto":
            continue
        for sizes in per_dtype.values():
            count = coll.element_count(sizes.sizes_nbytes[-1], sizes.itemsize_nbytes, comm.n)
            predicted = work.predict(coll.name, name, comm, count, topology,
                                     sizes.itemsize_nbytes, options)
            work.refuse_if_too_big(coll.name, name, comm, predicted.times(n_groups),
                                   work.MAX_WORK if max_work is None else max_work)


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
    if args.stepfactor is not None and args.stepbytes is not None:
        raise UbemuError("give -f/--stepfactor or -i/--stepbytes, not both")
    step_nbytes = (parse_size_bytes(args.stepbytes, field="-i/--stepbytes")
                   if args.stepbytes is not None else DEFAULT_STEP_NBYTES)
    sizes = sweep_sizes(min_nbytes, max_nbytes, args.stepfactor, step_nbytes)
    dtypes, ops = _dtypes_and_ops(args, coll)
    algos = parse_names(args.algo, ["auto", *algorithm_names(coll.name)], "--algo",
                        f"{coll.name} algorithm")
    options = _options(args, coll)
    seed = check_seed(args.seed)
    topology = apply(with_params(load_topology(args.topo), args.param), args)
    if args.every and args.group is None:
        raise UbemuError("--every runs every group of the kind --group names; give --group "
                         "(unit=, one_per= or levels=)")
    comm, rows = every_group(topology, args.group) if args.every else (
        group_of(topology, args.group), None)
    n_groups = 1 if rows is None else rows.shape[0]
    check_group(topology, comm.npus if rows is None else rows)
    n_ranks = comm.n
    if not 0 <= options.get("root", 0) < n_ranks:
        raise UbemuError(f"-r/--root: root {options['root']} out of range 0..{n_ranks - 1}")
    check_algorithms(coll.name, algos, comm, options)
    per_dtype = {}
    for dt in dtypes:
        itemsize = DTYPES[dt].itemsize
        unit = itemsize * (n_ranks if coll.blocked else 1)
        per_dtype[dt] = DtypeSizes(itemsize, unit, tuple(round_sizes(sizes, unit)))
        if not per_dtype[dt].sizes_nbytes:
            raise UbemuError(f"{coll.name}: every size from -b {min_nbytes} to -e {max_nbytes} "
                             f"is below one {dt} element per rank ({unit} B)")
    max_work = check_max_work(args.max_work)
    _check_work(coll, algos, comm, topology, per_dtype, options, max_work, n_groups)
    return SweepPlan(collective=coll.name, topology=topology, n_ranks=n_ranks,
                     sizes_nbytes=tuple(sizes), dtypes=tuple(dtypes), ops=tuple(ops),
                     algorithms=tuple(algos), options=options, per_dtype=per_dtype,
                     check=bool(args.check), group=args.group, seed=seed,
                     min_nbytes=min_nbytes, max_nbytes=max_nbytes, stepfactor=args.stepfactor,
                     step_nbytes=step_nbytes, output_file=args.output_file,
                     max_work=max_work, n_groups=n_groups, faults=args.faults,
                     routing=args.routing, protocol=args.protocol)
