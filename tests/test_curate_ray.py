"""``sieve curate --engine ray`` decides exactly what the local engine decides, row for row.

A local Ray with 2 CPUs runs the engine on a 10,000-row slice of the Alpaca 52k file and on built files
whose near and exact copies sit in other files, other byte ranges and other batches than their
originals (one file takes the row-by-row path, one falls back to it from byte ranges).
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from curate.pipeline import run_curate
from schemas.config import CurateConfig
from sieve.cli import run
from tests.conftest import ALPACA, DECISION

ray = pytest.importorskip("ray", reason="Ray is the optional extra [ray]: pip install -e '.[ray]' "
                          "(scripts/setup.sh installs it for the test suite)")

pytestmark = pytest.mark.slow

SMALL_PARTS = {"ray": {"range_bytes": 4096, "batch_rows": 64}}  # copies land in other ranges and batches


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


def test_an_address_where_nothing_answers_is_one_line_not_a_hang(tmp_path, capsys):
    """ray.init retries an unreachable GCS address for ever: the address is tried first, for seconds."""
    from curate.engine_ray import _unreachable

    assert "nothing answers at 127.0.0.1:1" in _unreachable("127.0.0.1:1")
    assert _unreachable("auto") is None and "nothing answers" in _unreachable("ray://127.0.0.1:1")
    f = tmp_path / "in.jsonl"
    f.write_text("".join(line + "\n" for line in ALPACA.read_text(encoding="utf-8").splitlines()[:20]), encoding="utf-8")
    if ray.is_initialized():  # an earlier test's session: a run joins it instead of the address (as a driver would)
        ray.shutdown()
    assert run(["curate", str(f), "-o", str(tmp_path / "run"), "--engine", "ray", "--ray-address", "127.0.0.1:1"]) == 1
    assert "cannot join the Ray cluster at '127.0.0.1:1'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
