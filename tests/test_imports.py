"""Imports flow one way: command line -> API -> engine -> algorithms / timing / data plane ->
schedule, topology, collectives -> kernels; only ``ubemu.parallel`` imports mpi4py.

Every ``import`` in every module counts, also the ones inside functions (the lazy ones).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Layer of each module (dotted name under ``ubemu``, a package's modules by its prefix);
#: a module may import its own layer and the ones below.
LAYERS = [
    ("kernels", 0),
    ("errors", 1), ("units", 1), ("collectives", 1), ("topology", 1), ("topospec", 1),
    ("presets", 1), ("links", 1), ("schedule", 1), ("dtypes", 1), ("comm", 1), ("groups", 1),
    ("layout", 1), ("result", 1), ("ops", 1), ("intervals", 1), ("linkmap", 1), ("faults", 1),
    ("faultreport", 1),
    ("algorithms", 2), ("costmodel", 2), ("timing", 2), ("dataplane", 2), ("verify", 2),
    ("memory", 2), ("parallel", 2), ("bounds", 2), ("work", 2), ("symmetry", 2),
    ("sharing", 2), ("shift_timing", 2), ("patterns", 2), ("replica_timing", 2),
    ("engine", 3), ("estimator", 3), ("opprofile", 3), ("workload", 4), ("training", 4),
    ("training_plans", 4),
    ("api", 4),
    ("cli", 5), ("cli_collective", 5), ("report", 5), ("plot", 5), ("topo_report", 5),
    ("__main__", 5), ("__init__", 6),
]
NAMES = {"command line": 5, "API": 4, "engine": 3, "algorithms, timing, data plane": 2,
         "schedule, topology, collectives": 1, "kernels": 0}


def _modules():
    for base, prefix in ((ROOT / "ubemu", "ubemu"), (ROOT / "kernels", "ubemu.kernels")):
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            if parts[-1] == "__init__" and len(parts) > 1:
                parts = parts[:-1]
            yield ".".join((prefix, *parts)) if parts != ("__init__",) else prefix, path


def layer(module):
    """Layer of ``ubemu.x.y`` (the package ``ubemu`` itself is the top)."""
    if module == "ubemu":
        return dict(LAYERS)["__init__"]
    rest = module.split(".", 1)[1]
    for name, lv in LAYERS:
        if rest == name or rest.startswith(name + "."):
            return lv
    raise AssertionError(f"module {module} has no layer in tests/test_imports.py")


def imports(module, path):
    """Every ubemu module ``module`` imports, and whether it imports mpi4py."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out, mpi = set(), False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                mpi |= alias.name.split(".")[0] == "mpi4py"
                if alias.name.startswith("ubemu"):
                    out.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[:len(up) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            mpi |= base.split(".")[0] == "mpi4py"
            if not base.startswith("ubemu"):
                continue
            for alias in node.names:  # ``from . import x``: x may be a module
                sub = f"{base}.{alias.name}"
                if _is_module(sub):
                    out.add(sub)
                elif base != "ubemu":  # a name of the package itself (__version__): no edge
                    out.add(base)
    return out, mpi


def _is_module(name):
    return name in dict(_modules())


MODULES = dict(_modules())


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_one_way(module):
    mine = layer(module)
    targets, _ = imports(module, MODULES[module])
    upward = sorted(t for t in targets if t in MODULES and layer(t) > mine)
    assert not upward, f"{module} (layer {mine}) imports {upward} from above"


def test_only_the_parallel_subpackage_imports_mpi4py():
    users = sorted(m for m, p in MODULES.items() if imports(m, p)[1])
    assert users and all(m.startswith("ubemu.parallel") for m in users), users


def test_every_module_has_a_layer_and_the_direction_is_the_documented_one():
    for module in MODULES:
        layer(module)
    assert [NAMES[k] for k in NAMES] == sorted(NAMES.values(), reverse=True)
