"""Sieve's training library: LoRA on the approved set, and learning curves against baselines."""
