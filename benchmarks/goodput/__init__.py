"""Helpers of `benchmarks/bench_goodput.py`: workloads, the oracle bound, the strategies, the emulator process."""
