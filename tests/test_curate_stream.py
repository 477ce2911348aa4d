"""The streaming local engine decides exactly what the in-memory engine decides, row for row.

Chunks are made tiny (a few KiB of input) so that near and exact copies, same-prompt rows and the
members of one near-duplicate group sit in other chunks than their originals, and so that a file with a
broken line is read partly on the fast path and partly row by row.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from curate.engine_stream import SPILL_PREFIX, curate_local, spill_space
from curate.pipeline import run_curate
from schemas.config import CurateConfig
from sieve.cli import run
from tests.conftest import ALPACA, DECISION, SELF_INSTRUCT

TINY = {"memory": {"chunk_bytes": 16384}}


def _streamed(inputs: list, cfg: CurateConfig, tmp_path: Path):
    """A streamed run's result with its frame read into memory (before the chunk files go)."""
    with spill_space(tmp_path / "out") as spill:
        res = curate_local(inputs, cfg, spill)
        assert res.memory["streamed"] and res.memory["chunks"] > 1
        res.frame = res.frame.collect()
    return res


def _same(memory, streamed) -> None:
    a, b = memory.frame, streamed.frame
    assert b.columns == a.columns and b.height == a.height
    assert_frame_equal(b.select(DECISION), a.select(DECISION), check_exact=True)
    assert_frame_equal(b, a)
    assert [q.model_dump() for q in streamed.quarantine] == [q.model_dump() for q in memory.quarantine]
    facts = lambda r: [(f.path, f.format, f.rows, f.quarantined, f.sha256) for f in r.files]  # noqa: E731
    assert facts(streamed) == facts(memory) and streamed.skipped == memory.skipped


def test_copies_across_chunks_give_the_in_memory_verdicts(built, tmp_path):
    cfg = CurateConfig.model_validate(TINY)
    memory = run_curate([built], cfg)
    count = dict(memory.frame["reasons"].explode().value_counts().iter_rows())
    assert count["dedup.near"] >= 60 and count["dedup.exact"] >= 10 and count["dedup.same_prompt"] >= 5
    streamed = _streamed([built], cfg, tmp_path)
    assert streamed.memory["chunks"] >= 8
    # near-duplicate groups span chunks: members of one group have row numbers a chunk or more apart
    spans = memory.frame.filter(pl.col("near_cluster").is_not_null()).group_by("near_cluster").agg(
        span=pl.col("row_idx").max() - pl.col("row_idx").min())
    assert spans["span"].max() > streamed.frame.height / streamed.memory["chunks"]
    # the candidates' texts are cut into several parts by group, and the kept members are the same
    assert streamed.memory["text_parts"] >= 8
    _same(memory, streamed)


def _odd_inputs(folder: Path) -> None:
    """Files where reading a part at a time could differ from reading the whole: read errors and mapping
    errors in other ranges, a format the first rows decide, a blank and a CRLF line, a dangling link, many
    small files, a whitespace-only file and a JSON array whose rows are in no known format."""
    rows = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines()[:120]]
    lines = [json.dumps(r) for r in rows[:60]]
    lines[3] = json.dumps({"instruction": "no output here", "input": ""})  # a mapping error, early
    lines[41] = "{not json"  # a read error, later
    (folder / "errors.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    chats = [{"messages": [{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["output"]}]}
             for r in rows[60:65]]
    mixed = chats + rows[65:105] + [{"instruction": r["instruction"]} for r in rows[105:120]]
    (folder / "mixed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mixed), encoding="utf-8")
    (folder / "blank.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:30]) + "\n\n"
                                        + "\r\n".join(json.dumps(r) for r in rows[30:50]) + "\n", encoding="utf-8")
    for i in range(6):
        (folder / f"small-{i}.jsonl").write_text(json.dumps(rows[100 + i]) + "\n", encoding="utf-8")
    (folder / "spaces.jsonl").write_text(" \n" * 3000, encoding="utf-8")
    (folder / "dangling.jsonl").symlink_to(folder / "gone.jsonl")
    (folder / "unknown.json").write_text(json.dumps([{"foo": f"q{i}", "bar": "a" * 80} for i in range(30)]),
                                         encoding="utf-8")


def test_odd_inputs_read_in_parts_give_the_in_memory_rows_and_quarantine(tmp_path):
    (tmp_path / "in").mkdir()
    _odd_inputs(tmp_path / "in")
    cfg = CurateConfig.model_validate({"memory": {"chunk_bytes": 1024}})
    memory = run_curate([tmp_path / "in"], cfg, [SELF_INSTRUCT])
    codes = {q.code for q in memory.quarantine}
    assert {"read.json_syntax", "read.missing_field", "read.unreadable", "read.empty_file",
            "read.unknown_format"} <= codes, codes
    _same(memory, _streamed([tmp_path / "in"], cfg, tmp_path))


def test_nothing_readable_in_a_streamed_run_is_exit_4(tmp_path):
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps([{"foo": f"q{i}", "bar": "a" * 80} for i in range(30)]), encoding="utf-8")
    toml = tmp_path / "tiny.toml"
    toml.write_text("[memory]\nchunk_bytes = 1024\n", encoding="utf-8")
    assert run(["curate", str(path), "-o", str(tmp_path / "out"), "-c", str(toml)]) == 4
    assert len((tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()) == 30


def test_compressed_input_is_streamed_by_what_it_holds(built, tmp_path):
    """A gzip file smaller on disk than a chunk but holding more is streamed, not read whole into memory:
    whether to stream goes by the uncompressed size its trailer records. Small, empty, incompressible and
    misnamed files count their own size."""
    import gzip
    import os

    from curate.chunked_ingest import content_bytes

    raw = (built / "a.jsonl").read_bytes()
    (tmp_path / "in").mkdir()
    gz = tmp_path / "in" / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(raw))
    assert content_bytes(gz) == len(raw) > 2 * gz.stat().st_size
    odd = {"empty.jsonl.gz": gzip.compress(b""), "one.jsonl.gz": gzip.compress(b'{"a": 1}\n'),
           "noise.gz": gzip.compress(os.urandom(5000)), "plain.jsonl.gz": raw[:5000],
           "joined.jsonl.gz": gzip.compress(raw[:3000]) + gzip.compress(raw[3000:5000])}
    for name, data in odd.items():
        (tmp_path / name).write_bytes(data)
        assert len(data) <= content_bytes(tmp_path / name) <= max(len(data), 5000), name
    assert content_bytes(tmp_path / "gone.jsonl") == 0
    cfg = CurateConfig.model_validate({"memory": {"chunk_bytes": gz.stat().st_size + 1}})  # the file fits; its rows do not
    memory = run_curate([tmp_path / "in"], cfg)
    _same(memory, _streamed([tmp_path / "in"], cfg, tmp_path))


def test_parquet_input_is_streamed_by_its_uncompressed_row_groups(built, tmp_path):
    pytest.importorskip("pyarrow")  # the review and ray extras install it; else a Parquet file counts its size
    from curate.chunked_ingest import content_bytes

    (tmp_path / "in").mkdir()
    parquet = tmp_path / "in" / "a.parquet"
    pl.read_ndjson(built / "a.jsonl").write_parquet(parquet)
    held = content_bytes(parquet)
    assert held > 2 * parquet.stat().st_size
    cfg = CurateConfig.model_validate({"memory": {"chunk_bytes": (held + parquet.stat().st_size) // 2}})
    memory = run_curate([tmp_path / "in"], cfg)
    _same(memory, _streamed([tmp_path / "in"], cfg, tmp_path))


@pytest.mark.slow
def test_alpaca_52k_gives_the_in_memory_verdicts(tmp_path):
    cfg = CurateConfig.model_validate({"memory": {"chunk_bytes": 4 << 20}})
    memory = run_curate([ALPACA], cfg)
    assert memory.frame.filter(pl.col("near_cluster").is_not_null()).height > 0
    _same(memory, _streamed([ALPACA], cfg, tmp_path))


def test_cli_streams_and_writes_the_same_files(tmp_path):
    """`--memory-limit` streams a file bigger than a chunk; the run's files are the in-memory run's, the
    manifest says how memory went, and a killed run's leftover chunks are cleared."""
    path = tmp_path / "alpaca_3k.jsonl"
    with open(ALPACA, encoding="utf-8") as src:
        path.write_text("".join(next(src) for _ in range(3000)), encoding="utf-8")
    toml = tmp_path / "tiny.toml"
    toml.write_text("[memory]\nchunk_bytes = 65536\n", encoding="utf-8")
    (tmp_path / "streamed" / f"{SPILL_PREFIX}left-by-a-killed-run").mkdir(parents=True)
    assert run(["curate", str(path), "-o", str(tmp_path / "memory")]) == 0
    assert run(["curate", str(path), "-o", str(tmp_path / "streamed"), "-c", str(toml), "--memory-limit", "2G"]) == 0
    for name in ("curated.jsonl", "review.jsonl", "rejected.jsonl", "quarantine.jsonl"):
        assert (tmp_path / "streamed" / name).read_bytes() == (tmp_path / "memory" / name).read_bytes(), name
    assert_frame_equal(pl.read_parquet(tmp_path / "streamed" / "annotated.parquet"),
                       pl.read_parquet(tmp_path / "memory" / "annotated.parquet"))
    man = {e: json.loads((tmp_path / e / "manifest.json").read_text()) for e in ("memory", "streamed")}
    for key in ("counts", "reasons", "languages", "expected_languages", "inputs", "output_format"):
        assert man["streamed"][key] == man["memory"][key], key
    mem = man["streamed"]["memory"]
    assert mem["streamed"] and mem["chunks"] >= 10 and mem["limit_bytes"] == 2 << 30 and mem["peak_rss_bytes"] > 0
    assert not man["memory"]["memory"]["streamed"]
    assert not list((tmp_path / "streamed").glob(f"{SPILL_PREFIX}*"))  # this run's chunks and the old ones
    assert "<h2>Duplicate clusters" in (tmp_path / "streamed" / "report.html").read_text(encoding="utf-8")


def test_a_bad_memory_limit_is_a_usage_error(tmp_path, capsys):
    assert run(["curate", str(ALPACA), "-o", str(tmp_path / "x"), "--memory-limit", "lots"]) == 2
    assert "error: --memory-limit 'lots'" in capsys.readouterr().err  # the flag, not the config
    assert run(["curate", str(ALPACA), "-o", str(tmp_path / "y"), "--memory-limit", "10M"]) == 2
    assert run(["curate", str(ALPACA), "-o", str(tmp_path / "z"), "--engine", "ray", "--memory-limit", "4G"]) == 2
