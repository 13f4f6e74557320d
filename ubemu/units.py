"""Parsing of sizes, bandwidths and latencies with units.

GB/s means 1e9 bytes per second. Sizes follow nccl-tests: K, M, G are powers of 1024.
"""

import re

from .errors import UbemuError

_LAT_UNITS_ns = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
_SIZE_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_NUM = r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"


def parse_bandwidth_GBps(text, field="bandwidth"):
    """Parse ``56GBps``, ``1.8TBps``, ``50GiBps`` or ``400Gbps`` into GB/s (1e9 B/s).

    A bare number is taken as GB/s. Bytes are ``B``, bits ``b``.
    """
    m = re.fullmatch(_NUM + r"\s*([A-Za-z]*)", str(text).strip())
    units = {"": 1.0, "GBps": 1.0, "TBps": 1e3, "MBps": 1e-3, "GiBps": 2**30 / 1e9,
             "TiBps": 2**40 / 1e9, "Gbps": 1 / 8, "Tbps": 1e3 / 8, "Mbps": 1e-3 / 8}
    if not m or m.group(2) not in units:
        raise UbemuError(f"{field}: cannot parse bandwidth {text!r}; "
                         f"use a number with one of {', '.join(u for u in units if u)}")
    value = float(m.group(1)) * units[m.group(2)]
    if not value > 0:
        raise UbemuError(f"{field}: bandwidth must be positive, got {text!r}")
    return value


def parse_latency_ns(text, field="latency"):
    """Parse ``150ns``, ``1us``, ``0.5ms`` into nanoseconds; a bare number is ns."""
    m = re.fullmatch(_NUM + r"\s*([a-z]*)", str(text).strip())
    if not m or (m.group(2) not in _LAT_UNITS_ns and m.group(2) != ""):
        raise UbemuError(f"{field}: cannot parse latency {text!r}; "
                         f"use a number with one of {', '.join(_LAT_UNITS_ns)}")
    return float(m.group(1)) * _LAT_UNITS_ns.get(m.group(2), 1.0)


def parse_size_bytes(text, field="size"):
    """Parse an nccl-tests size: ``8``, ``1K``, ``16M``, ``1G`` (powers of 1024)."""
    m = re.fullmatch(r"([0-9]+)\s*([KMGTB]?)", str(text).strip().upper())
    if not m:
        raise UbemuError(f"{field}: cannot parse size {text!r}; use an integer with an "
                         f"optional suffix K, M, G or T (powers of 1024)")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2)]


def format_size(nbytes):
    """Format bytes the short way: 1024 -> '1K', 3 -> '3'."""
    for suffix, scale in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale}{suffix}"
    return str(nbytes)


def format_bandwidth(bw_GBps):
    """Format GB/s with a readable unit: 56 -> '56 GB/s', 1800 -> '1.8 TB/s'."""
    for unit, scale in (("EB/s", 1e9), ("PB/s", 1e6), ("TB/s", 1e3)):
        if bw_GBps >= scale:
            return f"{bw_GBps / scale:.4g} {unit}"
    return f"{bw_GBps:.4g} GB/s"


def format_latency(lat_ns):
    """Format ns readably: 150 -> '150 ns', 1000 -> '1 us'."""
    if lat_ns >= 1e3:
        return f"{lat_ns / 1e3:.4g} us"
    return f"{lat_ns:.4g} ns"
