"""``sieve curate --engine ray`` decides exactly what the local engine decides, row for row.

A local Ray with 2 CPUs runs the engine on a 10,000-row slice of the Alpaca 52k file and on built files
whose near and exact copies sit in other files, other byte ranges and other batches than their
originals (one file takes the row-by-row path, one falls back to it from byte ranges).
"""

from __future__ import annotations

import json
import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from curate.pipeline import run_curate
from schemas.config import CurateConfig
from sieve.cli import run
from tests.conftest import ALPACA

ray = pytest.importorskip("ray", reason="Ray is the optional extra [ray]: pip install -e '.[ray]' "
                          "(scripts/setup.sh installs it for the test suite)")

pytestmark = pytest.mark.slow

# what a verdict is made of: a difference here is a different decision, not a rounding
DECISION = ["row_idx", "id", "source_file", "source_line", "verdict", "reasons", "dup_cluster", "exact_cluster",
            "near_cluster", "prompt_cluster", "response_reuse", "expected_langs"]
SMALL_PARTS = {"ray": {"range_bytes": 4096, "batch_rows": 64}}  # copies land in other ranges and batches


def _edit(text: str, share: float, rng: random.Random) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, int(len(words) * share))):
        words[i] = rng.choice(["alpha", "kettle", "orange", "window", "seven"])
    return " ".join(words)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Four input files with near duplicates (a few % of words edited, and graded 5-25% variants of one
    row: groups where the kept-member rule matters), exact copies, same-prompt rows and arithmetic that
    differs by one symbol, spread over files, byte ranges and formats."""
    rng = random.Random(0)
    rows = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines()[:2000]]
    long = [r for r in rows if len(r["output"].split()) >= 60][:320]
    near = lambda r, share: {**r, "output": _edit(r["output"], share, rng)}  # noqa: E731
    a = long[:300] + [near(r, 0.03) for r in long[:20]] + long[20:25]
    a += [near(long[30 + k // 4], 0.05 * (1 + k % 4)) for k in range(20)]
    b = [near(r, 0.03) for r in long[100:120]] + long[40:45] + [{**r, "output": long[0]["output"]} for r in long[50:55]]
    b += [{"instruction": f"What is 45 {op} 15? Show the working in a sentence or two.", "input": "",
           "output": f"To work it out, take 45 and {word} 15, which gives {val}. So 45 {op} 15 = {val}."}
          for op, word, val in [("+", "add", 60), ("-", "subtract", 30), ("+", "add", 60)]]
    c = [{"messages": [{"role": "user", "content": r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")},
                       {"role": "assistant", "content": _edit(r["output"], 0.03, rng)}]} for r in long[200:210]]
    folder = tmp_path_factory.mktemp("built")
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in a), encoding="utf-8")
    (folder / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in b), encoding="utf-8")
    (folder / "c.json").write_text(json.dumps(c + [{"instruction": "no answer here"}]), encoding="utf-8")
    # one broken line: byte ranges find it and the whole file goes the row-by-row way, as it does locally
    d = [json.dumps(near(r, 0.03)) for r in long[150:170]]
    (folder / "d.jsonl").write_text("\n".join(d[:10] + ["{not json"] + d[10:]) + "\n", encoding="utf-8")
    return folder


def _same(local, on_ray) -> None:
    a, b = local.frame, on_ray.frame
    assert b.height == a.height and b.columns == a.columns
    assert_frame_equal(b.select(DECISION), a.select(DECISION), check_exact=True)
    assert_frame_equal(b, a)  # every signal too (floats within polars' default tolerance)
    assert [q.model_dump() for q in on_ray.quarantine] == [q.model_dump() for q in local.quarantine]
    facts = lambda r: [(f.path, f.format, f.rows, f.quarantined, f.sha256) for f in r.files]  # noqa: E731
    assert facts(on_ray) == facts(local) and on_ray.skipped == local.skipped


def test_cli_writes_the_local_engines_files(built, tmp_path):
    """Before any test starts Ray: the command starts its own local Ray (2 CPUs) and shuts it down."""
    toml = tmp_path / "ray.toml"
    toml.write_text("[ray]\nnum_cpus = 2\nrange_bytes = 4096\nbatch_rows = 64\n", encoding="utf-8")
    assert run(["curate", str(built), "-o", str(tmp_path / "local"), "-c", str(toml)]) == 3  # c.json quarantines a row
    assert run(["curate", str(built), "-o", str(tmp_path / "ray"), "-c", str(toml), "--engine", "ray"]) == 3
    assert not ray.is_initialized()
    for name in ("curated.jsonl", "review.jsonl", "rejected.jsonl", "quarantine.jsonl"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    local = pl.read_parquet(tmp_path / "local" / "annotated.parquet")
    assert_frame_equal(pl.read_parquet(tmp_path / "ray" / "annotated.parquet"), local)
    assert_frame_equal(pl.read_parquet(tmp_path / "ray" / "annotated" / "*.parquet"), local)
    man = {e: json.loads((tmp_path / e / "manifest.json").read_text()) for e in ("local", "ray")}
    assert (man["ray"]["engine"], man["local"]["engine"]) == ("ray", "local")
    for key in ("counts", "reasons", "languages", "expected_languages", "inputs"):
        assert man["ray"][key] == man["local"][key], key


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_copies_across_files_ranges_and_batches(cluster, built):
    from curate.engine_ray import run_curate_ray

    cfg = CurateConfig.model_validate(SMALL_PARTS)
    local = run_curate([built], cfg)
    reasons = local.frame["reasons"].explode().value_counts()
    count = dict(reasons.iter_rows())
    # the data exercises what is compared: near copies in other files, exact and same-prompt copies
    assert count["dedup.near"] >= 60 and count["dedup.exact"] >= 10 and count["dedup.same_prompt"] >= 5
    near_files = local.frame.filter(pl.col("near_cluster").is_not_null()).group_by("near_cluster").agg(
        pl.col("source_file").n_unique())
    assert near_files["source_file"].max() >= 2
    _same(local, run_curate_ray([built], cfg).result)


def test_alpaca_10k_slice(cluster, tmp_path):
    from curate.engine_ray import run_curate_ray

    path = tmp_path / "alpaca_10k.jsonl"
    with open(ALPACA, encoding="utf-8") as src:
        path.write_text("".join(next(src) for _ in range(10_000)), encoding="utf-8")
    cfg = CurateConfig()
    local = run_curate([path], cfg)
    assert local.frame.filter(pl.col("near_cluster").is_not_null()).height > 0
    on_ray = run_curate_ray([path], cfg)
    assert len(on_ray.blocks) >= 4  # automatic byte ranges and batches: every CPU had work
    _same(local, on_ray.result)
