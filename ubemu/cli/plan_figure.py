"""The picture of a plan sweep (``ubemu plan --sweep -J``): which plan wins, and by how much.

One bar per plan, fastest at the top: its step split into compute, the pipeline bubble and
the exposed communication of each parallel axis (they add up to the step), the step time
and its distance to the fastest written after it; beside it the exposed communication alone
on its own scale (a few percent of the step, where plans differ), and the memory one NPU
needs, with the capacity as a line where the document has one; plans that do not fit are
hatched.

:func:`plan_parts` is the one place that reads a plan's record: a field the planner adds
(another part of the step, a capacity) is added there and drawn everywhere.
"""

from ..errors import UbemuError
from ..training import layout
from ..training.planner import AXES
from .drawing import pyplot
from .table import format_number

#: Parts of a step in stacking order, with their colours: compute, bubble, then each axis.
PART_COLOURS = {"compute": "#bab0ac", "bubble": "#e8e2dc", "tp": "#4e79a7", "cp": "#76b7b2",
                "ep": "#b07aa1", "pp": "#f28e2b", "dp": "#e15759", "other": "#9c755f"}
#: Plans drawn unless ``top`` says otherwise.
DEFAULT_TOP = 20


def plan_parts(rep, capacity_bytes=None):
    """One plan's figures for the picture, from its record in a ``ubemu plan -J`` document.

    Parameters
    ----------
    rep : dict
        ``StepReport.to_dict()``.
    capacity_bytes : float, optional
        Memory per NPU (the sweep's ``--memory-gb``), when the record names none.

    Returns
    -------
    dict
        ``label``, ``step_s``, ``parts`` (``[(name, seconds)]`` in stacking order, summing to
        the step: ``compute`` without the bubble, ``bubble``, each axis's exposed time, and
        ``other`` for any rest), ``memory_bytes``, ``capacity_bytes`` (or None) and ``fits``
        (False when the plan needs more memory than the capacity).
    """
    exposed = {a["axis"]: a["exposed_s"] for a in rep.get("axes", ())}
    parts = [("compute", rep["compute_s"] - rep["bubble_s"]), ("bubble", rep["bubble_s"])]
    parts += [(axis, exposed.get(axis, 0.0)) for axis in AXES]
    rest = rep["step_s"] - sum(s for _, s in parts)
    if rest > 1e-9 * rep["step_s"]:
        parts.append(("other", rest))
    capacity = rep.get("capacity_bytes") or capacity_bytes
    memory = rep["memory_bytes"]
    return {"label": layout.Plan(**rep["plan"]).label(), "step_s": rep["step_s"],
            "parts": [(k, s) for k, s in parts if s > 0], "memory_bytes": memory,
            "capacity_bytes": capacity,
            "fits": rep.get("fits", capacity is None or memory <= capacity)}


def draw(doc, top=DEFAULT_TOP, title=None):
    """The figure of a sweep document's ``top`` fastest plans (see the module docstring).

    Returns
    -------
    (Figure, int)
        The figure and the number of plans drawn.
    """
    if top < 1:
        raise UbemuError(f"--top: must be >= 1, got {top}")
    gb = (doc.get("command") or {}).get("memory_gb")
    plans = [plan_parts(rep, None if gb is None else gb * 1e9)
             for rep in doc.get("plans", ())[:top]]
    if not plans:
        raise UbemuError("plot: the plan sweep holds no timed plan")
    plt = pyplot()
    n = len(plans)
    fig, (ax, axe, axm) = plt.subplots(
        1, 3, sharey=True, figsize=(13, 1.9 + 0.32 * n),
        gridspec_kw={"width_ratios": (3, 1.3, 1), "wspace": 0.06})
    best = plans[0]["step_s"]
    for y, p in enumerate(plans):
        hatch = None if p["fits"] else "//"
        left = exposed = 0.0
        for name, seconds in p["parts"]:
            ax.barh(y, seconds * 1e3, left=left, height=0.7, color=PART_COLOURS[name],
                    label=_part_label(name), hatch=hatch, edgecolor="white", linewidth=0.4)
            left += seconds * 1e3
            if name not in ("compute", "bubble"):
                axe.barh(y, seconds * 1e3, left=exposed, height=0.7, hatch=hatch,
                         color=PART_COLOURS[name], edgecolor="white", linewidth=0.4)
                exposed += seconds * 1e3
        gap = (p["step_s"] / best - 1) * 100
        ax.text(left, y, f" {format_number(p['step_s'] * 1e3)} ms"
                + (f" (+{format_number(gap, 2)} %)" if y else " (fastest)"),
                va="center", fontsize=7)
        axe.text(exposed, y, f" {format_number(exposed)}", va="center", fontsize=7)
        axm.barh(y, p["memory_bytes"] / 1e9, height=0.7, hatch=hatch, edgecolor="white",
                 color="#8cd17d" if p["fits"] else "#ff9d9a")
    capacity = {p["capacity_bytes"] for p in plans} - {None}
    for c in sorted(capacity):
        axm.axvline(c / 1e9, color="#d62728", ls="--", lw=1.2,
                    label=f"capacity {format_number(c / 1e9)} GB")
    ax.set_yticks(range(n), [f"{k + 1}. {p['label']}" for k, p in enumerate(plans)],
                  fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(p["step_s"] for p in plans) * 1e3 * 1.3)  # room for the text
    axe.set_xlim(0, max(axe.get_xlim()[1], 1e-3) * 1.25)
    for a, label in ((ax, "step time (ms)"), (axe, "exposed communication (ms)"),
                     (axm, "memory per NPU (GB)")):
        a.set_xlabel(label)
        a.grid(True, axis="x", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))  # one entry per part
    handles, labels = list(seen.values()), list(seen)
    if capacity:
        h, lab = axm.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    if any(not p["fits"] for p in plans):
        handles.append(plt.Rectangle((0, 0), 1, 1, fc="white", ec="black", hatch="//"))
        labels.append("needs more memory than the capacity")
    order = sorted(range(len(labels)), key=lambda k: _legend_rank(labels[k]))
    fig.legend([handles[k] for k in order], [labels[k] for k in order], loc="lower center",
               ncols=min(len(labels), 7), fontsize=7, bbox_to_anchor=(0.5, 0.0),
               frameon=False)
    fig.subplots_adjust(bottom=0.8 / (1.9 + 0.32 * n))
    model = (doc.get("plans") or [{}])[0].get("model", {}).get("name", "")
    topo = doc.get("topology", {}).get("name", "")
    ax.set_title(title or f"{model} on {topo}: the {n} fastest of {len(doc['plans'])} plans, "
                          f"step = compute + bubble + exposed communication", fontsize=10,
                 loc="left")
    return fig, n


def _legend_rank(label):
    """Legend entries in stacking order, then the capacity and the hatching."""
    names = [_part_label(k) for k in PART_COLOURS]
    return names.index(label) if label in names else len(names) + label.startswith("needs")


def _part_label(name):
    return {"compute": "compute", "bubble": "pipeline bubble",
            "other": "other"}.get(name, f"exposed {name.upper()}")
