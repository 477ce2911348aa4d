"""Benchmark ``sieve curate``: throughput per stage, against a naive per-row baseline, on 52k and 1M rows,
plus near-duplicate precision and recall; peak memory and time at millions of rows. A script, not a
test: it prints what it measured.

    python bench/curate_bench.py                 # everything (about 10 minutes on 2 cores)
    python bench/curate_bench.py --skip-1m       # without the 1,000,000-row run
    python bench/curate_bench.py --only-big --rows 1000000 3000000 10000000 --plot docs/curate-memory.png
                                                 # bounded memory and linear time (about an hour; 6 GiB of disk)

The naive baseline is what the field's per-row scripts do, run in this same process: datasketch
``MinHash.update`` per shingle + ``MinHashLSH`` insert/query, langdetect per text, textstat per text,
and rules as a Python loop over dicts. It runs on a sample (it is ~100x slower); rows/s compare.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
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
        peak = f"   peak RSS {s['peak_rss_gib']:5.2f} GiB" if s.get("peak_rss_gib") else ""
        print(f"    {s['name']:<12} {s['seconds']:8.2f} s {s['rows_per_s']:>12,.0f} rows/s{peak}")
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


def corpus_of(folder: Path, sizes: list[int]) -> dict[int, Path]:
    """One corpus per size in ``folder`` (kept there when it exists already): the largest built once, the
    smaller ones its first lines (the same rows a smaller build writes: the generator is sequential)."""
    big = folder / f"corpus-{max(sizes)}.jsonl"
    if not big.exists():
        perturbed_corpus(max(sizes), big)
    out = {max(sizes): big}
    for n in sorted(set(sizes) - {max(sizes)}):
        out[n] = folder / f"corpus-{n}.jsonl"
        if not out[n].exists():
            with open(big, "rb") as src, open(out[n], "wb") as dst:
                for _ in range(n):
                    dst.write(src.readline())
    return out


def run_big(path: Path, n: int, out: Path, extra: list[str]) -> dict:
    """``sieve curate`` on ``path`` in its own process; the stage table, time and that process's peak RSS."""
    cmd = [sys.executable, "-m", "sieve.cli", "curate", str(path), "-o", str(out), *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate()
    total = time.perf_counter() - start
    # the curate process itself (its 2 language-ID worker processes, ~0.2 GiB each, are not in this figure)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if proc.returncode != 0:
        print(stdout, stderr)
        raise SystemExit(proc.returncode)
    manifest = json.loads((out / "manifest.json").read_text())
    mem = manifest.get("memory") or {}
    print(f"  {n:,} rows (52k Alpaca repeated, each copy with ~5% of its words replaced), {path.stat().st_size / 2**30:.2f} GiB")
    print_stages(manifest, total)
    print(f"    peak memory  {mem.get('peak_rss_bytes', peak) / 2**30:8.2f} GiB (max RSS of the sieve process; limit "
          f"{mem.get('limit_bytes', 0) / 2**30:.2f} GiB, {mem.get('chunks', 1)} chunk(s), "
          f"{'streamed' if mem.get('streamed') else 'in memory'})")
    c = manifest["counts"]
    print(f"    verdicts: keep {c['keep']:,} review {c['review']:,} drop {c['drop']:,}")
    return {"rows": n, "seconds": total, "peak_gib": mem.get("peak_rss_bytes", peak) / 2**30,
            "limit_gib": mem.get("limit_bytes", 0) / 2**30, "chunks": mem.get("chunks", 1)}


def plot_memory(results: list[dict], path: Path) -> None:
    """Peak RSS and seconds against rows: the picture of bounded memory and linear time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r["rows"] / 1e6 for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    a.plot(rows, [r["peak_gib"] for r in results], "o-", color="#4a78b5", label="peak RSS")
    a.axhline(results[0]["limit_gib"], color="#c44", ls="--", lw=1, label="--memory-limit")
    a.set(xlabel="rows (millions)", ylabel="GiB", title="sieve curate: peak memory", ylim=(0, None))
    a.legend(fontsize=8)
    b.plot(rows, [r["seconds"] / 60 for r in results], "o-", color="#4a78b5", label="measured")
    b.plot(rows, [results[0]["seconds"] / 60 * x / rows[0] for x in rows], ":", color="#888", label="linear from the first")
    b.set(xlabel="rows (millions)", ylabel="minutes", title="end-to-end time", ylim=(0, None))
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    print(f"  memory plot: {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-rows", type=int, default=2000)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000],
                    help="sizes of the big runs, e.g. --rows 1000000 3000000 10000000 (each in its own process)")
    ap.add_argument("--memory-limit", help="passed to sieve curate (default: its own, 25%% of RAM)")
    ap.add_argument("--plot", type=Path, help="write the memory and time plot here (with two sizes or more)")
    ap.add_argument("--results", type=Path, help="append each big run's figures to this JSONL file; the plot "
                    "then shows every run in it (sizes measured by separate invocations, on the same machine)")
    ap.add_argument("--only-big", action="store_true", help="skip the 52k, baseline and precision parts")
    ap.add_argument("--skip-1m", action="store_true", help="skip the big runs")
    ap.add_argument("--corpus", type=Path, help="keep the big corpora in this folder and reuse them (they take "
                    "minutes to build; the 10M one is 4 GiB)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT.parent) as tmp_s:  # /tmp may be small: the 10M corpus is 4 GiB
        tmp = Path(tmp_s)
        if not args.only_big:
            small_runs(tmp, args.baseline_rows)
        if args.skip_1m:
            return
        extra = ["--memory-limit", args.memory_limit] if args.memory_limit else []
        results = []
        for n, path in sorted(corpus_of(args.corpus or tmp, args.rows).items()):
            print(f"== sieve curate on {n:,} rows (separate process)")
            results.append(run_big(path, n, tmp / f"run-{n}", extra))
            shutil.rmtree(tmp / f"run-{n}")
            if args.results:
                with open(args.results, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(results[-1]) + "\n")
        if len(results) > 1:
            first, last = results[0], results[-1]
            scale = last["rows"] / first["rows"]
            print(f"== scaling: {last['rows']:,} rows took {last['seconds'] / first['seconds']:.2f}x the time of "
                  f"{first['rows']:,} ({scale:.0f}x the rows): {last['seconds'] / (scale * first['seconds']):.2f}x linear")
        if args.results:
            results = [json.loads(line) for line in args.results.read_text(encoding="utf-8").splitlines()]
            results = sorted({r["rows"]: r for r in results}.values(), key=lambda r: r["rows"])  # the last run per size
        if args.plot and len(results) > 1:
            plot_memory(results, args.plot)


def small_runs(tmp: Path, baseline_rows: int) -> None:
    print(f"== sieve curate on {ALPACA.name} (52,002 rows)")
    manifest, total = run_ours(ALPACA, tmp / "run52k")
    ours = print_stages(manifest, total)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(f"    peak memory  {peak:8.2f} GiB (max RSS of this process so far)")
    print(f"== naive per-row baseline on the first {baseline_rows:,} rows, same process")
    naive = naive_baseline(load_alpaca()[:baseline_rows])
    print(f"    {naive:,.0f} rows/s")
    print(f"    ratio: sieve end to end / naive = {ours / naive:.1f}x")
    print("== near-duplicate precision and recall (52k + injected copies)")
    near_quality(tmp)


if __name__ == "__main__":
    main()
