"""Benchmarks: a scalable synthetic month (``benchmarks.generate``) and the measuring command (``benchmarks.run``)."""
