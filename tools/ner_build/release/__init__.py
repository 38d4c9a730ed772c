"""Shipping what was built: publish to a registry, the weekly rebuild, the scan gate, and the
signed offline bundle with its provenance and sources."""
