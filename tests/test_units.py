"""Sizes, bandwidths and latencies with units (hand-computed values)."""

import pytest

from ubemu.errors import UbemuError
from ubemu.units import (
    format_bandwidth,
    format_latency,
    format_size,
    parse_bandwidth_GBps,
    parse_latency_ns,
    parse_size_bytes,
)


@pytest.mark.parametrize("text,nbytes", [("8", 8), ("1K", 1024), ("16M", 16 * 2**20),
                                         ("1G", 2**30), ("3k", 3072), ("2T", 2**41)])
def test_sizes_are_powers_of_1024(text, nbytes):
    assert parse_size_bytes(text) == nbytes


@pytest.mark.parametrize("text,GBps", [("56GBps", 56.0), ("1.8TBps", 1800.0),
                                       ("400Gbps", 50.0), ("50GiBps", 50 * 2**30 / 1e9),
                                       ("12", 12.0), ("500MBps", 0.5)])
def test_bandwidths_in_GBps(text, GBps):
    assert parse_bandwidth_GBps(text) == pytest.approx(GBps, rel=1e-15)


@pytest.mark.parametrize("text,ns", [("150ns", 150.0), ("1us", 1000.0), ("0.5ms", 5e5),
                                     ("2s", 2e9), ("7", 7.0)])
def test_latencies_in_ns(text, ns):
    assert parse_latency_ns(text) == ns


@pytest.mark.parametrize("parse,text,field", [(parse_size_bytes, "1.5M", "size"),
                                              (parse_size_bytes, "-4", "size"),
                                              (parse_bandwidth_GBps, "56GB", "bandwidth"),
                                              (parse_bandwidth_GBps, "0GBps", "bandwidth"),
                                              (parse_latency_ns, "1 hour", "latency")])
def test_bad_values_name_the_field(parse, text, field):
    with pytest.raises(UbemuError, match=field):
        parse(text)


def test_formats():
    assert (format_size(1024), format_size(3), format_size(3 * 2**30)) == ("1K", "3", "3G")
    assert format_bandwidth(1800) == "1.8 TB/s" and format_bandwidth(56) == "56 GB/s"
    assert format_bandwidth(2.416e9) == "2.416 EB/s"
    assert format_latency(1500) == "1.5 us" and format_latency(150) == "150 ns"
