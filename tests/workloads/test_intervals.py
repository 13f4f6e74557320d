"""Interval arithmetic of workload timelines (ubemu.workloads.intervals), by hand."""

from ubemu.workloads.intervals import intersect, length_outside, measure, union


def test_union_merges_overlapping_and_touching_intervals_and_drops_empty_ones():
    assert union([(5, 6), (0, 2), (1, 3), (3, 4), (7, 7)]) == [[0, 4], [5, 6]]


def test_intersect_and_measure():
    xs, ys = union([(0, 4), (6, 10)]), union([(3, 7), (9, 12)])
    assert intersect(xs, ys) == [(3, 4), (6, 7), (9, 10)]
    assert measure([(0, 4), (2, 6), (8, 9)]) == 7


def test_length_outside_counts_what_no_interval_covers():
    assert length_outside(0, 10, [[2, 3], [5, 7]]) == 7
    assert length_outside(4, 6, [[0, 10]]) == 0.0
