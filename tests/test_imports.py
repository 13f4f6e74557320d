"""Imports flow one way, between whole subpackages: command line -> API -> training ->
workloads -> engine -> data plane -> algorithms -> timing -> machine (and MPI) -> the shared
records (schedule, collectives, result, units, errors) -> kernels; no import cycle, between
subpackages or between modules; only ``ubemu.parallel`` imports mpi4py.

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
    ("errors", 1), ("units", 1), ("collectives", 1), ("schedule", 1), ("lockstep", 1),
    ("result", 1), ("traffic", 1), ("pages", 1),
    ("machine", 2), ("parallel", 2),
    ("timing", 3),
    ("algorithms", 4),
    ("data", 5),
    ("engine", 6), ("estimator", 6),
    ("workloads", 7),
    ("training", 8),
    ("api", 9), ("validation", 9), ("calibration", 9),
    ("cli", 10), ("__main__", 10), ("__init__", 11),
]
NAMES = {"command line": 10, "API": 9, "training": 8, "workloads": 7, "engine": 6,
         "data plane": 5, "algorithms": 4, "timing": 3, "machine, MPI": 2,
         "shared records": 1, "kernels": 0}


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


def _unit(module):
    """The subpackage (or top-level module) a module belongs to: ``ubemu.machine``."""
    return ".".join(module.split(".")[:2])


def _cycle(edges):
    """One cycle of the directed graph ``edges`` ({node: set of nodes}), or None."""
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(edges):
        if n not in state and (found := visit(n)):
            return found
    return None


def _edges(key):
    out = {}
    for module, path in MODULES.items():
        if module == "ubemu" or path.name == "__init__.py":
            continue  # a package's __init__ re-exports its own modules
        for t in imports(module, path)[0]:
            if t in MODULES and key(t) != key(module):
                out.setdefault(key(module), set()).add(key(t))
    return out


def test_no_cycle_between_subpackages():
    assert _cycle(_edges(_unit)) is None


def test_no_cycle_between_modules():
    assert _cycle(_edges(lambda m: m)) is None


def test_a_cycle_is_found():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


#: Private names of the standard library that ubemu uses on purpose.
STDLIB_PRIVATE = {"_exit", "_actions"}  # os._exit after a fail-stop; argparse's flag list


def _private_uses(path):
    """Private names ``path`` uses that it does not define: ``from x import _y`` or
    ``obj._y`` on anything but ``self`` / ``cls`` where ``_y`` is not set or defined here."""
    tree = ast.parse(path.read_text())
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out += [a.name for a in node.names if a.name.startswith("_")
                    and not a.name.startswith("__")]
        elif (isinstance(node, ast.Attribute) and node.attr.startswith("_")
              and not node.attr.startswith("__") and node.attr not in own
              and node.attr not in STDLIB_PRIVATE
              and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            out.append(ast.unparse(node))
    return out


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_member_used_across_modules(module):
    assert not _private_uses(MODULES[module])
