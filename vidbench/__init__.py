"""vidbench: the evaluation harness for VidDiffBench (video action differencing)."""

__version__ = "0.1.0"
