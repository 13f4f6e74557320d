"""What faults cost and say (ubemu.machine.faultreport): hand-counted bandwidth, one-line errors."""

import numpy as np
import pytest

from ubemu.errors import UbemuError
from ubemu.machine.faultreport import check_group, summary
from ubemu.machine.faults import with_faults
from ubemu.machine.spec import resolve_topology

RACK = resolve_topology("ub-mesh-rack")


def test_no_faults_no_report():
    assert summary(RACK) is None


def test_bisection_loses_a_link_only_when_it_crosses_the_cut():
    """The rack's bisection halves the rack level (coordinates 0-3 against 4-7): 8 lines x
    4 x 4 links of 56 GB/s one way. NPU 0 -> 32 crosses it (coordinate 0 -> 4), 0 -> 8 not."""
    assert RACK.bisection_GBps() == 8 * 16 * 56
    across = summary(with_faults(RACK, "link=rack:0-32"))
    inside = summary(with_faults(RACK, "link=rack:0-8"))
    assert across["bisection_lost_GBps"] == 56 and inside["bisection_lost_GBps"] == 0


def test_injection_counts_what_each_working_npu_can_still_send():
    s = summary(with_faults(RACK, "link=board:0-1,link=board:0-2,npu=9"))
    assert s["injection_GBps"] == 14 * 56
    assert s["injection_worst_GBps"] == 12 * 56  # NPU 0 lost two of its 14 links
    # 63 working NPUs: NPU 0 lost 2 links, NPUs 1 and 2 their link to 0, and NPU 9's 14
    # peers (NPU 1 among them) their link to 9; NPU 9 itself failed and is left out
    lost = 2 + 1 + 1 + 14
    assert s["injection_mean_GBps"] == pytest.approx(14 * 56 - lost * 56 / 63)
    assert s["failed_npus"] == [9] and s["spared_npus"] == [9]


def test_a_failed_member_without_a_spare_is_refused_before_anything_runs():
    t = with_faults(RACK, "npu=3,spare=off")
    with pytest.raises(UbemuError, match="NPU 3 of the group failed and no spare serves it: "
                                         "the other 63 ranks"):
        check_group(t, np.arange(64))
    check_group(t, np.arange(4, 64))  # a group without it runs
