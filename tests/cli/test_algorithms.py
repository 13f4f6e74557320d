"""``ubemu.cli.algorithms``: ``ubemu algorithms [COLLECTIVE]`` lists the registry."""

from tests.cli_helpers import assert_one_error_line, run_main
from ubemu.algorithms import REGISTRY
from ubemu.cli.algorithms import listing_lines, phase_registry


def test_one_collective(capsys):
    status, out, _ = run_main(["algorithms", "all_reduce"], capsys)
    assert status == 0
    rows = [line.split(None, 2) for line in out.splitlines() if not line.startswith("#")]
    want = sorted((c, n) for c, n in REGISTRY if c == "all_reduce")
    assert [(r[0], r[1]) for r in rows] == want
    assert rows[0][2] == REGISTRY[want[0]].summary
    assert "per-level" not in out


def test_every_collective_and_the_phases(capsys):
    status, out, _ = run_main(["algorithms"], capsys)
    assert status == 0
    assert len([ln for ln in out.splitlines() if not ln.startswith("#")]) == len(REGISTRY)
    kinds = sorted({k for k, _ in phase_registry()})
    assert out.splitlines()[-len(kinds) - 1] == "# per-level phases (for --per-level):"
    assert listing_lines()[-len(kinds):] == [
        f"#   {k}: {', '.join(sorted(n for kk, n in phase_registry() if kk == k))}"
        for k in kinds]


def test_unknown_collective(capsys):
    status, out, err = run_main(["algorithms", "allreduce"], capsys)
    assert_one_error_line(status, out, err, "ubemu: error: unknown collective 'allreduce'; "
                                            "did you mean 'all_reduce'? valid: ")
