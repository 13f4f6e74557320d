"""Shipped topology presets (TOML data files, each figure commented with its source)."""
