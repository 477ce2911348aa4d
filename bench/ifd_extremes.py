"""The rows of a `sieve curate --model-signals` run with the highest and lowest IFD and perplexity, for
reading whether the scores and the model.ifd_high code make sense (issue 11's acceptance on real data).

    python bench/ifd_extremes.py RUN [N]      # RUN: a run folder; N rows per list (default 6)

Prints each row's source line, IFD, perplexity of the response given its prompt, reasons, and the
start of its prompt and response; then how many rows have IFD >= 1 and the medians.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl


def _line(row: dict) -> str:
    prompt = " ".join(row["prompt"].split())[:60]
    response = " ".join(row["response"].split())[:60]
    reasons = ",".join(row["reasons"]) or "-"
    return (f"  line {row['source_line']:5d}  ifd {row['ifd']:.2f}  ppl {row['ppl_response']:8.1f}  "
            f"{reasons:28s} {prompt!r} -> {response!r}")


def main(argv: list[str]) -> None:
    if not argv or (len(argv) > 1 and not argv[1].isdigit()):
        sys.exit("usage: python bench/ifd_extremes.py RUN [N]")
    run = Path(argv[0])
    n = int(argv[1]) if len(argv) > 1 else 6
    if not (run / "annotated.parquet").is_file():
        sys.exit(f"{run}: no annotated.parquet; give the folder a `sieve curate ... -o RUN` wrote")
    rows = pl.read_parquet(run / "annotated.parquet")
    if "ifd" not in rows.columns:
        sys.exit(f"{run}: no ifd column; run `sieve curate ... --model-signals` first")
    scored = rows.filter(pl.col("ifd").is_not_null())
    lists = {
        "highest IFD (the prompt helps least)": scored.sort("ifd", descending=True),
        "lowest IFD (the prompt gives the answer away)": scored.sort("ifd"),
        "highest perplexity (response given prompt)": scored.sort("ppl_response", descending=True),
        "lowest perplexity": scored.sort("ppl_response"),
    }
    for title, frame in lists.items():
        print(title + ":")
        for row in frame.head(n).iter_rows(named=True):
            print(_line(row))
    high = scored.filter(pl.col("ifd") >= 1)
    coded = scored.filter(pl.col("reasons").list.contains("model.ifd_high"))
    print(f"IFD >= 1: {high.height:,} of {scored.height:,} scored rows ({rows.height:,} in the run); "
          f"model.ifd_high on {coded.height:,}; median IFD {scored['ifd'].median():.2f}, "
          f"median perplexity {scored['ppl_response'].median():.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
