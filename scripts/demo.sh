#!/usr/bin/env bash
# Set up everything (idempotent) and run Sieve on the sample shipped in examples/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
OUT=${1:-runs/demo}
sieve inspect examples/alpaca_sample.jsonl --examples 1
sieve ingest examples/alpaca_sample.jsonl -o "$OUT/ingested.parquet"
