"""Benchmarks: Safehold vs restic and borg, the machine's raw sha256/zstd speed, and the
orchestration latency of the full service. Run with `make bench` (python -m tests.bench)."""
