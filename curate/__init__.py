"""Sieve's batch-cleaning library: ingest, validate, deduplicate, score and give every row a verdict."""
