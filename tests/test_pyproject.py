"""pyproject.toml ships every subpackage: a package left out of the explicit list would import
in the editable install and be missing from a real one."""

from pathlib import Path

from ubemu.machine.spec import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "ubemu").rglob(
        "__init__.py")} | {"ubemu.kernels"}
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set()
