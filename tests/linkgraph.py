"""An independent picture of a topology's links as a graph, for checking routes under faults.

Built from ``ubemu.machine.linkmap`` (which NPUs or ports each directed link id joins) and
the level specs, with no routing code: a mesh or ring link joins two NPUs (on a trunk level,
two groups' backplanes); an NPU's switch port leads into its line's switch, or with an
oversubscribed core into its leaf, whose core link leads to the core of the span and back
down to every leaf under it; an access port joins an NPU and its group's backplane of the
trunk run; a spare's port leads into its group's LRS (the run's backplane where the NPUs'
access ports are their LRS ports). :func:`reachable` is a plain breadth-first search over
the links that did not fail.
"""

from collections import deque

import numpy as np

from ubemu.machine import linkmap


def link_graph(t):
    """(tail node, head node) per directed link id; NPUs are ints, other nodes tuples."""
    n, sizes, strides = t.n_npus, t.sizes, t.strides
    run_of, group = {}, []
    for k, (first, last) in enumerate(t.trunk_runs):
        run_of.update({i: k for i in range(first, last + 1)})
        group.append(strides[first])
    tail, head = [None] * t.n_links, [None] * t.n_links
    names = {c.name for c in t.link_classes}

    def plane(i, npu):  # the NPUs of level i's line hang off one switch: key its first
        return npu - ((npu // strides[i]) % sizes[i]) * strides[i]

    def bp(i, npu):
        k = run_of[i]
        return ("bp", k, npu // group[k])

    for cls in t.link_classes:
        ids = np.arange(cls.first_id, cls.first_id + cls.count)
        r, i, lv = linkmap.role(t, cls), cls.level, t.levels[cls.level]
        if r is None:
            a, b = linkmap.ends(t, ids)
            for k, x, y in zip(ids.tolist(), a.tolist(), b.tolist()):
                tail[k], head[k] = (bp(i, x), bp(i, y)) if lv.trunk else (x, y)
            continue
        first_npu = (ids - cls.first_id) * (n // cls.count)
        for k, x in zip(ids.tolist(), first_npu.tolist()):
            rel = k - cls.first_id
            if r in ("access_up", "access_down"):
                end, node = x, bp(i, x)
            elif r in ("up", "down"):
                end = bp(i, x) if lv.trunk else x
                if lv.oversub > 1 and not lv.trunk:
                    leaf = strides[i] if strides[i] > 1 else lv.size
                    node = ("leaf_" + r, i, x // leaf)
                else:
                    node = ("switch", i, plane(i, x))
            elif r in ("core_up", "core_down"):
                end, node = ("leaf_" + r[5:], i, rel), ("core", i, plane(i, x))
            elif r in ("spare_up", "spare_down"):
                end = ("spare", rel)
                if cls.name.rsplit(".", 1)[0] + ".lrs_up" in names:
                    node = ("lrs", rel)
                else:  # the LRS are the backplane of the run whose groups are the racks
                    k_run = next(j for j, (f, _) in enumerate(t.trunk_runs)
                                 if strides[f] == t.spare_group_npus)
                    node = ("bp", k_run, rel)
            else:  # lrs_up, lrs_down
                end, node = x, ("lrs", x // t.spare_group_npus)
            tail[k], head[k] = (end, node) if r.endswith("up") else (node, end)
    return tail, head


def endpoint(t, npu):
    """The node an NPU's traffic starts and ends at: itself, its spare, or None (failed)."""
    state = t.faults.state if t.faults is not None and t.faults.state.size else None
    if state is not None and state[npu]:
        return ("spare", npu // t.spare_group_npus) if state[npu] == 2 else None
    return npu


def reachable(t, graph, npu):
    """Every node reachable from NPU ``npu``'s endpoint over links that did not fail."""
    tail, head = graph
    down = t.faults.down
    adj = {}
    for k, (x, y) in enumerate(zip(tail, head)):
        if not down[k]:
            adj.setdefault(x, []).append(y)
    start = endpoint(t, npu)
    seen, todo = {start}, deque([start])
    while todo:
        for y in adj.get(todo.popleft(), ()):
            if y not in seen:
                seen.add(y)
                todo.append(y)
    return seen


def walk(t, graph, s, d, links):
    """Assert that ``links`` lead from NPU ``s`` to NPU ``d`` over working links."""
    tail, head = graph
    node = endpoint(t, s)
    for k in links:
        assert not t.faults.down[k], f"link {k} failed"
        assert tail[k] == node, f"link {k} starts at {tail[k]}, not at {node}"
        node = head[k]
    assert node == endpoint(t, d), f"ends at {node}, not at NPU {d}"
