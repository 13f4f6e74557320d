"""What ubemu says for a measurement row: one registered function per kind of measurement.

A kind function takes a :class:`~.rows.Row` and returns ``(figure, note)``: ubemu's figure in
the row's ``metric`` and a short note on how it was obtained (the algorithm ``auto`` chose,
...). Settings keys in lower case are the kind's inputs and must be ones it knows (checked, so
a misspelt one is an error); upper-case keys (``NCCL_ALGO``) record the library's settings
and are not read.

Registered here: the collectives (``all_reduce``, ``all_gather``, ``reduce_scatter``,
``alltoall``, ``broadcast``, ``reduce``), timed by :func:`ubemu.simulate`; settings
``algorithm`` (default ``auto``), ``dtype`` (default ``float32``), ``op`` (``sum``),
``protocol`` (default ``auto``), ``channels`` and ``chunk`` (the algorithm options of that
name, :mod:`ubemu.algorithms.channels`; left out: the library's defaults) and ``option.KEY``
(any algorithm option, ``-O KEY=VALUE``). The note says what ubemu chose: the algorithm,
its channels and pipeline chunk where it has them, and the protocol.
"""

from ..errors import UbemuError, choices_error

#: kind -> function(row) -> (figure in row.metric, note).
KINDS = {}
#: Metrics of a collective's :class:`~ubemu.result.Result`: metric -> result -> figure.
COLLECTIVE_METRICS = {
    "busbw_GBps": lambda r: r.busbw_GBps,
    "algbw_GBps": lambda r: r.algbw_GBps,
    "time_us": lambda r: r.time_s * 1e6,
}
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "alltoall", "broadcast", "reduce")


def register(*kinds):
    """Decorator: ``fn`` computes ubemu's figure for rows of these kinds."""
    def wrap(fn):
        for kind in kinds:
            if kind in KINDS:
                raise ValueError(f"validation kind {kind!r} registered twice")
            KINDS[kind] = fn
        return fn
    return wrap


def inputs(row, known):
    """The row's lower-case settings, each checked to be one of ``known`` (upper-case keys
    are the library's and are left out)."""
    mine = {k: v for k, v in row.settings.items() if not k.isupper()}
    for key in mine:
        if key not in known and not any(key.startswith(p) for p in known if p.endswith(".")):
            raise choices_error(f"{row.id}: settings key", key, sorted(known))
    return mine


def metric(row, table):
    """The function of ``table`` for the row's metric, or one line naming the valid ones."""
    if row.metric not in table:
        raise choices_error(f"{row.id}: metric", row.metric, sorted(table))
    return table[row.metric]


@register(*COLLECTIVES)
def collective_figure(row):
    """A collective of ``row.size_B`` bytes (nccl-tests' size) on the row's group."""
    from ..api import simulate

    given = inputs(row, ("algorithm", "dtype", "op", "protocol", "channels", "chunk",
                         "option."))
    options = {k.split(".", 1)[1]: _value(v) for k, v in given.items()
               if k.startswith("option.")}
    options.update({k: _value(given[k]) for k in ("channels", "chunk") if k in given})
    res = simulate(row.kind, row.size_B, row.topo, given.get("algorithm", "auto"),
                   dtype=given.get("dtype", "float32"), op=given.get("op", "sum"),
                   group=row.group or None, protocol=given.get("protocol", "auto"), **options)
    return metric(row, COLLECTIVE_METRICS)(res), res.choice


def _value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def figure(row):
    """ubemu's figure for ``row`` in its metric, and a note."""
    if row.kind not in KINDS:
        raise UbemuError(f"{row.path}: row {row.id}: unknown kind {row.kind!r}; valid: "
                         f"{', '.join(sorted(KINDS))}")
    return KINDS[row.kind](row)
