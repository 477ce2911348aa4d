"""Sieve: curate instruction-tuning data, review it, and prove that it helps."""

__version__ = "0.1.0"
