"""Time intervals ``(start, end)``: merged, intersected, measured (workload timelines)."""


def union(intervals):
    """The intervals merged into disjoint ``[start, end]`` lists, sorted; empty ones dropped."""
    out = []
    for a, b in sorted(tuple(x) for x in intervals if x[1] > x[0]):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def intersect(xs, ys):
    """The overlap of two merged, sorted interval lists."""
    out, i, j = [], 0, 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if b > a:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def measure(intervals):
    """Total length covered by ``intervals`` (overlaps counted once)."""
    return sum(b - a for a, b in union(intervals))


def length_outside(a, b, covered):
    """Length of ``[a, b)`` outside the merged intervals ``covered``."""
    left = b - a
    for x, y in covered:
        left -= max(0.0, min(b, y) - max(a, x))
    return max(left, 0.0)
