"""The curate pipeline end to end: the output contract, atomic writes, and the real-data acceptance."""

import json

import polars as pl
import pytest

from curate.atomic import atomic_write_text
from curate.outputs import write_outputs
from curate.pipeline import run_curate
from schemas.config import CurateConfig
from tests.conftest import ALPACA, DATA, ROOT, ZH

SAMPLE = ROOT / "examples" / "alpaca_sample.jsonl"
FILES = ["annotated.parquet", "curated.jsonl", "review.jsonl", "rejected.jsonl", "quarantine.jsonl",
         "manifest.json", "report.html"]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run_curate([SAMPLE], CurateConfig())
    manifest = write_outputs(result, out)
    return out, result, manifest


def test_outputs_contract(sample_run):
    out, result, man = sample_run
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    annotated = pl.read_parquet(out / "annotated.parquet")
    assert annotated.height == 284 == man["counts"]["rows"]
    for col in ("reasons", "verdict", "quality", "dup_cluster", "messages", "response_words", "lang_response"):
        assert col in annotated.columns
    assert annotated["quality"].is_between(0, 1).all()
    c = man["counts"]
    lines = {name: (out / f"{name}.jsonl").read_text().splitlines() for name in ("curated", "review", "rejected")}
    assert (len(lines["curated"]), len(lines["review"]), len(lines["rejected"])) == (c["keep"], c["review"], c["drop"])
    assert c["keep"] + c["review"] + c["drop"] == c["rows"] and c["quarantined"] == 0
    assert sum(man["reasons"].values()) == annotated["reasons"].list.len().sum()
    first = json.loads(lines["curated"][0])
    assert set(first) == {"instruction", "input", "output", "sieve"}  # single-turn rows -> Alpaca form
    rejected = [json.loads(line) for line in lines["rejected"]]
    assert all(r["sieve"]["reasons"] and r["sieve"]["verdict"] == "drop" for r in rejected)
    assert man["inputs"][0]["sha256"] and man["inputs"][0]["rows"] == 284
    assert [s["name"] for s in man["stages"]] == ["ingest", "validate", "exact dedup", "near dedup", "signals", "rules"]
    assert man["config"]["dedup"]["threshold"] == 0.7 and "polars" in man["versions"]


def test_report_is_self_contained_and_escapes_row_text(sample_run):
    out, _, man = sample_run
    html = (out / "report.html").read_text()
    assert "<script" not in html and "http://" not in html.split("<body>")[0]
    assert "data:image/png;base64," in html
    for code in man["reasons"]:
        assert code in html


def test_messages_output_for_multi_turn(tmp_path):
    result = run_curate([DATA / "lima" / "lima_1029_messages.jsonl"], CurateConfig())
    man = write_outputs(result, tmp_path)
    assert man["output_format"] == "messages"
    assert "messages" in json.loads((tmp_path / "curated.jsonl").read_text().splitlines()[0])


def test_atomic_write_leaves_the_old_file_on_a_crash(tmp_path):
    target = tmp_path / "manifest.json"
    atomic_write_text(target, "old")

    def boom(_tmp):
        raise RuntimeError("crash mid-write")

    from curate.atomic import atomic_write

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


@pytest.mark.slow
def test_alpaca_52k_defects_are_flagged():
    res = run_curate([ALPACA], CurateConfig()).frame
    empty = res.filter(pl.col("response").str.strip_chars() == "")
    assert empty.height == 28 and (empty["verdict"] == "drop").all()
    meta = res["metadata"].str.json_path_match("$.input")
    noinput = res.filter(meta.str.contains(r"(?i)^\W*no\s*input\W*$"))
    assert noinput.height > 550  # PROVENANCE: ~593 placeholder inputs such as <noinput> / <no input>
    assert noinput["reasons"].list.contains("content.placeholder_prompt").all()


@pytest.mark.slow
def test_english_rows_in_the_mislabelled_chinese_file_are_detected():
    res = run_curate([ZH / "alpaca_data-12345-15323-中文.json"], CurateConfig()).frame
    told = res.filter(pl.col("lang_response").is_not_null())  # very short answers get no language
    assert told.height > 0.9 * res.height
    share_en = (told["lang_response"] == "en").mean()
    assert 0.8 <= share_en <= 0.92  # ~2,565 of 2,978 rows were never translated
    english = told.filter((pl.col("lang_response") == "en") & (pl.col("lang_prompt") == "en"))
    # by default the file's own mix (en 85%, zh 13%) is expected: nothing floods review...
    assert english.height > 2000 and english["reasons"].list.contains("language.unexpected").sum() == 0
    # ...and pinning Chinese catches every untranslated row
    pinned = run_curate([ZH / "alpaca_data-12345-15323-中文.json"],
                        CurateConfig.model_validate({"signals": {"languages": ["zh"]}})).frame
    english = pinned.filter((pl.col("lang_prompt") == "en") & (pl.col("lang_prompt_score") >= 0.5)
                            & ~pl.col("prompt").str.contains(r"\p{Han}")  # not a half-translated prompt
                            & ~pl.col("translation_prompt"))  # a translation task may be in two languages
    assert english.height > 2000 and english["reasons"].list.contains("language.unexpected").all()


def test_every_null_model_output_is_flagged():
    res = run_curate([DATA / "alpaca_eval" / "outputs" / "NullModel.json"], CurateConfig()).frame
    assert res.height == 805 and (res["verdict"] == "drop").all()
    assert res["reasons"].list.contains("content.repeated_response").all()


def test_quality_ranks_alpaca_eval_models():
    means = {}
    for name in ("NullModel", "falcon-7b-instruct", "gpt4_1106_preview"):
        res = run_curate([DATA / "alpaca_eval" / "outputs" / f"{name}.json"], CurateConfig()).frame
        means[name] = res["quality"].mean()
    assert means["NullModel"] < means["falcon-7b-instruct"] < means["gpt4_1106_preview"]
