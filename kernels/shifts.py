"""Lockstep replicas' loads scattered from one replica (:mod:`ubemu.timing.replicas`).

One replica of a shape is routed; every other replica of that shape loads the links and NPUs
of the routed one moved by a cyclic shift of the coordinates. :func:`scatter_links` moves each
link (a linear function of its coordinates, :func:`ubemu.machine.linkmap.shift_weights`) by
each shift and adds its load where it lands; :func:`scatter_keys` does the same for NPU keys
(a rank of the routed replica is the same rank of each other one). Both list the ids whose
entry was 0 before the call, once each, after ``touched[n]``, in the order first reached (the
NumPy path lists them ascending; what is read from the lists does not depend on their
order). No (replicas x links) array is made.

The loops are written out in each kernel: a helper taking the arrays pays reference counts
per call, which made a link's move ten times slower than its sums (as did a division per
level, or a row of ``shifts`` taken as an array per link).
"""

from ._jit import kernel


@kernel(inline="always")
def _listed(touched, n, count, mark):
    """Clear the marks of the ids listed after ``touched[n]``; the new ``n``."""
    for t in range(n, n + count):
        mark[touched[t]] = 0
    return n + count


@kernel
def scatter_links(acc, touched, n, mark, values, shifts, sizes, coords, weights, const, level,
                  far, size):
    """``acc[link j moved by shifts[r]] += values[j]`` for every shift r and link j of
    :func:`ubemu.machine.linkmap.shift_weights` (its six arrays, the last six arguments): the
    link becomes ``const + sum_i t_i weights[j, i]``, ``t`` its moved coordinates, plus a
    full mesh link's far end.

    Ids whose entry was 0 are listed after ``touched[n]`` (room needed: min(shifts x links,
    all links)); ``mark`` (a byte per link, all 0) is left all 0. Returns the new ``n``."""
    count = 0
    for r in range(shifts.shape[0]):
        for j in range(values.shape[0]):
            link, a = const[j], 0
            for i in range(sizes.shape[0]):
                t = coords[j, i] + shifts[r, i]
                if t >= sizes[i]:
                    t -= sizes[i]
                link += t * weights[j, i]
                if i == level[j]:
                    a = t
            if far[j] >= 0:
                b = far[j] + shifts[r, level[j]]
                if b >= size[j]:
                    b -= size[j]
                link += b if b < a else b - 1
            if acc[link] == 0.0 and mark[link] == 0:
                mark[link] = 1
                touched[n + count] = link
                count += 1
            acc[link] += values[j]
    return _listed(touched, n, count, mark)


@kernel
def scatter_keys(acc, touched, n, mark, values, rows, members, rank, offset):
    """``acc[rows[m, rank[k]] + offset[k]] += values[k]`` for every member m and key k; the
    rest as :func:`scatter_links`."""
    count = 0
    for t in range(members.shape[0]):
        m = members[t]
        for k in range(values.shape[0]):
            key = rows[m, rank[k]] + offset[k]
            if acc[key] == 0.0 and mark[key] == 0:
                mark[key] = 1
                touched[n + count] = key
                count += 1
            acc[key] += values[k]
    return _listed(touched, n, count, mark)
