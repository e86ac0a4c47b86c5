"""Throughput and latency benchmark for POST report (see bench/README.md)."""
