#!/usr/bin/env bash
# Set up everything (idempotent) and run Sieve's loop on the sample shipped in examples/:
# curate it, import it for review, export the approved set, and LoRA-train SmolLM2 on it for a few steps.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
OUT=${1:-runs/demo}
sieve curate examples/alpaca_sample.jsonl -o "$OUT/curated"
sieve review "$OUT/curated" --import-only --carry-over  # a re-run keeps earlier decisions
sieve review export "$OUT/curated/review.sqlite" -o "$OUT/curated/approved.jsonl"
sieve train "$OUT/curated/approved.jsonl" -o "$OUT/lora" --max-steps 5 --overwrite  # a re-run trains afresh
echo
echo "Open $OUT/curated/report.html in a browser; review with: sieve review $OUT/curated"
