"""What one NPU computes and holds: a topology's ``[npu]`` table.

A preset names its accelerator: the peak dense rate per data type (``[npu.tflops]``), the
memory bandwidth and capacity, and how its figures are known (``status``: ``shipping``,
``announced`` or ``projected``). The training planner (:mod:`ubemu.training.compute`) turns
these into the time of a layer: matrix multiplications at an achieved fraction of the peak
that grows with the matmul's smallest dimension (its arithmetic intensity),
``matmul_fraction * k / (k + matmul_half_dim)``, and element-wise work at
``memory_fraction`` of the memory bandwidth. ``matmul_fraction`` and ``memory_fraction``
default to the values fitted on Megatron-LM's weak-scaling table (A100, :data:`FIT_SOURCE`,
with ``ubemu calibrate``); ``matmul_half_dim`` is an assumption (half the large-matmul rate
at a smallest dimension of 128, a head's width), which that table cannot determine. Every
NPU uses the same three unless its table sets them.

TOML::

    [npu]
    name = "NVIDIA H100 SXM5 80GB"
    status = "shipping"
    mem_GBps = 3350
    mem_GB = 85.9
    [npu.tflops]
    bfloat16 = 989.4
    float8 = 1978.9
"""

from dataclasses import dataclass, field, fields, replace

from ..errors import UbemuError, choices_error

#: Where the defaults of the achieved-fraction model come from.
FIT_SOURCE = ("fitted on Narayanan et al. SC21 Table 1 (Megatron-LM, 1.7B-1T on 32-3,072 "
              "A100; docs/data/megatron-sc21-table1.csv)")
#: How a preset's NPU figures are known.
STATUSES = ("shipping", "announced", "projected")
#: Data types a peak rate may be given for (ubemu's float dtypes plus float8 and tf32).
RATE_DTYPES = ("float64", "float32", "tf32", "float16", "bfloat16", "float8", "float4")
FIELDS = ("name", "status", "tflops", "mem_GBps", "mem_GB", "matmul_fraction",
          "matmul_half_dim", "memory_fraction", "notes")


@dataclass(frozen=True)
class NPU:
    """One accelerator (see the module docstring).

    Parameters
    ----------
    name : str
    status : {'shipping', 'announced', 'projected'}
    tflops : dict
        Peak dense rate per data type, TFLOP/s (1e12 FLOP/s).
    mem_GBps : float
        Memory bandwidth, GB/s.
    mem_GB : float
        Memory capacity, GB (1e9 bytes).
    matmul_fraction : float
        Achieved fraction of the peak of a matmul whose dimensions are all large (0..1].
    matmul_half_dim : float
        Smallest matmul dimension at which half of ``matmul_fraction`` is reached.
    memory_fraction : float
        Achieved fraction of ``mem_GBps`` for element-wise work (0..1].
    """

    name: str = "unnamed NPU"
    status: str = "shipping"
    tflops: dict = field(default_factory=dict)
    mem_GBps: float = 0.0
    mem_GB: float = 0.0
    matmul_fraction: float = 0.697   # fitted (FIT_SOURCE)
    matmul_half_dim: float = 128.0   # A: Table 1 does not determine it (ubemu calibrate)
    memory_fraction: float = 0.936   # fitted (FIT_SOURCE)
    notes: tuple = ()

    def peak_flops(self, dtype):
        """Peak dense FLOP/s for ``dtype`` (float8 and bfloat16 aliases accepted), or a
        one-line error naming the rates the NPU has."""
        key = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp8": "float8",
               "float": "float32", "fp32": "float32"}.get(dtype, dtype)
        if key not in self.tflops:
            raise UbemuError(f"npu {self.name!r}: no peak rate for {dtype!r} (it has "
                             f"{', '.join(self.tflops) or 'none'}); add it under [npu.tflops]")
        return self.tflops[key] * 1e12

    def with_values(self, **values):
        """A copy with some fields replaced (checked like a TOML table)."""
        return npu_from_dict({**to_dict(self), **values}, f"npu {self.name!r}")


def _number(value, where, key, lo=0.0, strict=False, hi=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UbemuError(f"{where}: {key} must be a number, got {value!r}")
    x = float(value)
    if (x <= lo if strict else x < lo) or (hi is not None and x > hi) or x != x:
        bound = f"> {lo:g}" if strict else f">= {lo:g}"
        raise UbemuError(f"{where}: {key} must be {bound}" + (f" and <= {hi:g}" if hi else "")
                         + f", got {value!r}")
    return x


def npu_from_dict(raw, where="npu"):
    """An :class:`NPU` from the raw ``[npu]`` table; one-line errors naming the field."""
    if not isinstance(raw, dict):
        raise UbemuError(f"{where}: [npu] must be a table with {', '.join(FIELDS)}")
    bad = [k for k in raw if k not in FIELDS]
    if bad:
        raise choices_error("npu field", bad[0], FIELDS, where)
    out = {}
    for key in ("name",):
        if key in raw:
            if not isinstance(raw[key], str):
                raise UbemuError(f"{where}: {key} must be a string")
            out[key] = raw[key]
    if "status" in raw:
        if raw["status"] not in STATUSES:
            raise choices_error("npu status", raw["status"], STATUSES, where)
        out["status"] = raw["status"]
    rates = raw.get("tflops", {})
    if not isinstance(rates, dict):
        raise UbemuError(f"{where}: tflops must be a table of data type = TFLOP/s")
    for dtype in rates:
        if dtype not in RATE_DTYPES:
            raise choices_error("npu tflops data type", dtype, RATE_DTYPES, where)
    out["tflops"] = {k: _number(v, where, f"tflops.{k}", strict=True) for k, v in rates.items()}
    for key in ("mem_GBps", "mem_GB", "matmul_half_dim"):
        if key in raw:
            out[key] = _number(raw[key], where, key)
    for key in ("matmul_fraction", "memory_fraction"):
        if key in raw:
            out[key] = _number(raw[key], where, key, strict=True, hi=1.0)
    notes = raw.get("notes", ())
    if not isinstance(notes, (list, tuple)) or not all(isinstance(n, str) for n in notes):
        raise UbemuError(f"{where}: notes must be a list of strings")
    out["notes"] = tuple(notes)
    return NPU(**out)


def to_dict(npu):
    """The ``[npu]`` table of ``npu`` (plain values, TOML-ready)."""
    d = {f.name: getattr(npu, f.name) for f in fields(npu)}
    d["tflops"], d["notes"] = dict(npu.tflops), list(npu.notes)
    return d


def numeric_keys(npu):
    """Every number of ``npu`` by dotted key (``matmul_fraction``, ``tflops.bfloat16``)."""
    out = {}
    for f in fields(npu):
        v = getattr(npu, f.name)
        if isinstance(v, dict):
            out.update({f"{f.name}.{k}": float(x) for k, x in v.items()})
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f.name] = float(v)
    return out


def with_number(npu, key, value):
    """``npu`` with the number at dotted ``key`` (:func:`numeric_keys`) set to ``value``."""
    name, _, sub = key.partition(".")
    if sub:
        return replace(npu, **{name: {**getattr(npu, name), sub: float(value)}})
    return replace(npu, **{name: float(value)})
