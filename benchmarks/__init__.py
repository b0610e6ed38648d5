"""Benchmarks of delivery and the case pages, run by `make bench` (`python -m benchmarks`)."""
