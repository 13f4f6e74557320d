"""A workload's timeline in the Trace Event Format (chrome://tracing, Perfetto, speedscope).

One process "operations" with a track (thread) per operation: a slice for the whole
operation and, nested in it, one per run of equal steps; one process "links" with a counter
per link class and two series in it: ``utilisation``, the share of the whole class's capacity
in use over time, and ``group_utilisation``, the share of the capacity of the class's links
that carry traffic at that time. Times are microseconds
(the format's unit). The format: Google's "Trace Event Format" document (JSON Object Format:
``traceEvents``, phases ``X`` complete, ``C`` counter, ``M`` metadata).
"""

from .results import write_json_atomic

OPS_PID, LINKS_PID = 1, 2


def trace_events(result):
    """The events of a :class:`ubemu.workloads.run.WorkloadResult`, as a list of dicts."""
    us = 1e6
    events = [{"name": "process_name", "ph": "M", "pid": OPS_PID,
               "args": {"name": f"operations on {result.topology}"}},
              {"name": "process_name", "ph": "M", "pid": LINKS_PID,
               "args": {"name": "link utilisation"}}]
    for k, op in enumerate(result.ops):
        events.append({"name": "thread_name", "ph": "M", "pid": OPS_PID, "tid": k,
                       "args": {"name": op.name}})
        events.append({"name": op.name, "cat": op.collective, "ph": "X", "pid": OPS_PID,
                       "tid": k, "ts": op.start_s * us, "dur": op.duration_s * us,
                       "args": {"algorithm": op.algorithm, "groups": op.n_groups,
                                "ranks": op.n_ranks, "nbytes": op.nbytes,
                                "alone_us": op.alone_s * us, "slowdown": op.slowdown,
                                "bottleneck": op.bottleneck}})
    done = [0] * len(result.ops)
    for k, _, steps, t0, t1 in result.slices:
        first = done[k]
        done[k] += steps
        name = f"step {first}" if steps == 1 else f"steps {first}-{first + steps - 1}"
        events.append({"name": name, "cat": "steps", "ph": "X", "pid": OPS_PID, "tid": k,
                       "ts": t0 * us, "dur": (t1 - t0) * us})
    last = {}
    for t, util, group in result.counters:
        for name, u, g in zip(result.class_names, util.tolist(), group.tolist()):
            if last.get(name) != (u, g):
                events.append({"name": name, "ph": "C", "pid": LINKS_PID, "ts": t * us,
                               "args": {"utilisation": u, "group_utilisation": g}})
                last[name] = (u, g)
    return events


def write_trace(result, path, flag="--trace"):
    """Write ``result``'s trace to ``path`` atomically (never a half-written file)."""
    write_json_atomic(path, {"traceEvents": trace_events(result), "displayTimeUnit": "ns",
                             "otherData": {"makespan_s": result.makespan_s,
                                           "topology": result.topology}}, flag)
