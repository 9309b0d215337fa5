"""crosstrace benchmarks: figures to compare with DESIGN §6 (printed, never asserted). Run ``python -m bench.run``."""
