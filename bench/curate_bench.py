"""Benchmark ``sieve curate``: throughput per stage, against a naive per-row baseline, on 52k and 1M rows,
plus near-duplicate precision and recall. A script, not a test: it prints what it measured.

    python bench/curate_bench.py                 # everything (about 10 minutes on 2 cores)
    python bench/curate_bench.py --skip-1m       # without the 1,000,000-row run

The naive baseline is what the field's per-row scripts do, run in this same process: datasketch
``MinHash.update`` per shingle + ``MinHashLSH`` insert/query, langdetect per text, textstat per text,
and rules as a Python loop over dicts. It runs on a sample (it is ~100x slower); rows/s compare.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpus import ALPACA, inject_duplicates, load_alpaca, perturbed_corpus  # noqa: E402


def naive_baseline(rows: list[dict]) -> float:
    """Rows/s of the per-row baseline over ``rows`` (Alpaca dicts)."""
    import textstat
    from datasketch import MinHash, MinHashLSH
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    from curate.signals.readability import offline_textstat

    offline_textstat()
    DetectorFactory.seed = 0
    lsh = MinHashLSH(threshold=0.7, num_perm=128)
    start = time.perf_counter()
    verdicts = []
    for i, r in enumerate(rows):
        prompt = r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")
        text = re.sub(r"\s+", " ", (prompt + " " + r["output"]).lower())
        m = MinHash(num_perm=128)
        for j in range(len(text) - 4):
            m.update(text[j:j + 5].encode("utf-8"))
        dups = lsh.query(m)
        lsh.insert(str(i), m)
        langs = []
        for t in (prompt, r["output"]):
            try:
                langs.append(detect(t) if len(t) >= 12 else None)
            except LangDetectException:
                langs.append(None)
        score = textstat.flesch_reading_ease(r["output"]) if r["output"].strip() else None
        reasons = []
        if not r["output"].strip():
            reasons.append("length.response_empty")
        if len(r["output"]) < 5:
            reasons.append("length.response_too_short")
        if dups:
            reasons.append("dedup.near")
        if any(lang not in (None, "en") for lang in langs):
            reasons.append("language.unexpected")
        if re.search(r"(?i)as an ai|<\s*no\s*input\s*>", prompt + r["output"]):
            reasons.append("content.flag")
        verdicts.append((reasons, score))
    return len(rows) / (time.perf_counter() - start)


def run_ours(path: Path, out: Path) -> tuple[dict, float]:
    from curate.outputs import write_outputs
    from curate.pipeline import run_curate
    from schemas.config import CurateConfig

    start = time.perf_counter()
    result = run_curate([path], CurateConfig())
    manifest = write_outputs(result, out)
    return manifest, time.perf_counter() - start


def print_stages(manifest: dict, total: float) -> float:
    rows = manifest["counts"]["rows"]
    for s in manifest["stages"]:
        print(f"    {s['name']:<12} {s['seconds']:8.2f} s {s['rows_per_s']:>12,.0f} rows/s")
    stage_sum = sum(s["seconds"] for s in manifest["stages"])
    print(f"    {'outputs':<12} {total - stage_sum:8.2f} s")
    print(f"    end to end   {total:8.2f} s {rows / total:>12,.0f} rows/s  (ingest to written outputs)")
    return rows / total


def near_quality(tmp: Path) -> None:
    import polars as pl

    from curate.ingest import ingest
    from curate.pipeline import curate_frame
    from curate.text import fold
    from schemas.config import CurateConfig

    path, pairs = inject_duplicates(tmp / "injected.jsonl")
    cfg = CurateConfig()
    frame = curate_frame(ingest([path]).frame, cfg)
    exact = frame["exact_cluster"].to_list()
    near = frame["near_cluster"].to_list()
    same = lambda a, b: (exact[a] is not None and exact[a] == exact[b]) or (near[a] is not None and near[a] == near[b])  # noqa: E731
    found = sum(same(a, b) for a, b in pairs)
    # precision: every row flagged as a duplicate, paired with its cluster's representative
    injected = {frozenset(p) for p in pairs}
    f = frame.select("row_idx", "reasons", "exact_cluster", "near_cluster", "quality",
                     text=fold(pl.col("prompt")) + " " + fold(pl.col("response")))
    flagged = f.filter(pl.col("reasons").list.contains("dedup.near") | pl.col("reasons").list.contains("dedup.exact"))
    texts = f["text"].to_list()
    reps = {}
    for col in ("exact_cluster", "near_cluster"):
        kept = f.filter(pl.col(col).is_not_null() & ~pl.col("reasons").list.contains("dedup.near")
                        & ~pl.col("reasons").list.contains("dedup.exact"))
        reps[col] = dict(zip(kept[col].to_list(), kept["row_idx"].to_list()))
    correct = 0
    for row in flagged.iter_rows(named=True):
        col = "exact_cluster" if "dedup.exact" in row["reasons"] else "near_cluster"
        rep = reps[col].get(row[col])
        if rep is None:
            continue
        pair = frozenset((row["row_idx"], rep))
        if pair in injected or _jaccard(texts[row["row_idx"]], texts[rep]) >= cfg.dedup.threshold:
            correct += 1
        elif any(frozenset((row["row_idx"], o)) in injected or frozenset((rep, o)) in injected for o in (row["row_idx"], rep)):
            correct += 1
    print(f"  injected pairs: {len(pairs):,} ({len(pairs) - 500:,} with ~5% of words replaced, 500 exact)")
    print(f"  recall    {found / len(pairs):.4f}  ({found:,} of {len(pairs):,} injected pairs clustered)")
    print(f"  precision {correct / max(len(flagged), 1):.4f}  ({correct:,} of {flagged.height:,} flagged rows are an "
          f"injected copy or, by exact char-5-gram Jaccard >= {cfg.dedup.threshold}, a near duplicate already)")


def _jaccard(a: str, b: str, n: int = 5) -> float:
    sa = {a[i:i + n] for i in range(len(a) - n + 1)}
    sb = {b[i:i + n] for i in range(len(b) - n + 1)}
    return len(sa & sb) / max(len(sa | sb), 1)


def run_million(tmp: Path, n: int) -> None:
    corpus = perturbed_corpus(n, tmp / "corpus.jsonl")
    out = tmp / "run1m"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sieve.cli", "curate", str(corpus), "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    total = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr)
        raise SystemExit(proc.returncode)
    manifest = json.loads((out / "manifest.json").read_text())
    print(f"  {n:,} rows (52k Alpaca repeated, each copy with ~5% of its words replaced)")
    print_stages(manifest, total)
    print(f"    peak memory  {peak:8.2f} GiB (max RSS of the sieve process)")
    c = manifest["counts"]
    print(f"    verdicts: keep {c['keep']:,} review {c['review']:,} drop {c['drop']:,}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-rows", type=int, default=2000)
    ap.add_argument("--million", type=int, default=1_000_000)
    ap.add_argument("--skip-1m", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        print(f"== sieve curate on {ALPACA.name} (52,002 rows)")
        manifest, total = run_ours(ALPACA, tmp / "run52k")
        ours = print_stages(manifest, total)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
        print(f"    peak memory  {peak:8.2f} GiB (max RSS of this process so far)")
        print(f"== naive per-row baseline on the first {args.baseline_rows:,} rows, same process")
        naive = naive_baseline(load_alpaca()[: args.baseline_rows])
        print(f"    {naive:,.0f} rows/s")
        print(f"    ratio: sieve end to end / naive = {ours / naive:.1f}x")
        print("== near-duplicate precision and recall (52k + injected copies)")
        near_quality(tmp)
        if not args.skip_1m:
            print(f"== sieve curate on {args.million:,} rows (separate process)")
            run_million(tmp, args.million)


if __name__ == "__main__":
    main()
