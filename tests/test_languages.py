"""Other languages (issue 10): expected languages from each file's mix, script-aware language ID,
script-aware signals and pattern lists, on real Chinese rows of alpaca_zh_partial and real Portuguese,
Spanish and French rows of LIMA and Alpaca."""

import json

import polars as pl
import pytest

from curate.contamination import load_eval_prompts
from curate.ingest import ingest
from curate.pipeline import curate_frame, run_curate
from curate.signals.language import detect_languages
from schemas.config import CurateConfig
from tests.conftest import ALPACA, LIMA, ZH, rows_at, write_jsonl

DONE = "0-3252-中文-已完成.json"
ZH_CFG = CurateConfig.model_validate({"signals": {"languages": ["zh"]}})


@pytest.fixture(scope="module")
def zh_frame() -> pl.DataFrame:
    return ingest([ZH / f"alpaca_data-{DONE}"]).frame


def _row(zh_frame, line, cfg=ZH_CFG) -> dict:
    return curate_frame(rows_at(zh_frame, [line]), cfg).row(0, named=True)


def test_short_han_only_texts_are_never_japanese(zh_frame):
    resp = zh_frame["messages"].list.get(1).struct.field("content")
    short = resp.filter((resp.str.len_chars() <= 12) & resp.str.contains(r"\p{Han}")
                        & ~resp.str.contains(r"[\p{Hiragana}\p{Katakana}]"))
    assert short.len() > 100
    got = detect_languages(short, "fasttext", 12)["lang"]
    assert "ja" not in got.to_list() and (got == "zh").mean() > 0.95  # the rest: one Han character, or mostly Latin
    # without the script rule the small model calls some of them Japanese, and most get no language
    raw = detect_languages(short, "fasttext", 12, script_rule=False)["lang"]
    assert raw.null_count() > 0.5 * short.len()


def test_a_chinese_enumeration_is_not_junk(zh_frame):
    row = _row(zh_frame, 1212)  # 草莓、蓝莓、覆盆子、葡萄、奇异果、橙子、苹果、梨、芒果、木瓜和菠萝。
    assert row["junk_share"] == 0 and row["reasons"] == []


def test_a_short_chinese_answer_is_not_too_short_and_has_no_readability(zh_frame):
    row = _row(zh_frame, 382)  # 她很焦虑。
    assert row["reasons"] == [] and row["lang_response"] == "zh" and row["readability"] is None
    assert "length.response_too_short" in _row(zh_frame, 407)["reasons"]  # "1" is still too short


def test_words_and_tokens_count_chinese_characters(zh_frame):
    row = _row(zh_frame, 1212)
    han = sum(1 for ch in row["response"] if "\u4e00" <= ch <= "\u9fff")
    assert row["response_words"] == -(-han // 1.5) and row["response_tokens"] >= han


def test_a_translation_prompt_may_be_answered_in_another_language(zh_frame):
    jlh = ingest([ZH / "alpaca_data-6382-9407-（jlh）中文-已完成.json"]).frame
    row = curate_frame(rows_at(jlh, [27]), ZH_CFG).row(0, named=True)  # 翻译这句话：Children should not ...
    assert row["translation_prompt"] and row["reasons"] == []
    spanish = curate_frame(rows_at(ingest([ALPACA]).frame, [342]), CurateConfig.model_validate(
        {"signals": {"languages": ["en"]}})).row(0, named=True)  # Translate ... into Spanish.
    assert spanish["lang_response"] == "es" and spanish["reasons"] == []


def test_chinese_refusal_and_placeholder(zh_frame):
    assert "content.refusal" in _row(zh_frame, 14987)["reasons"]  # 抱歉，作为AI语言模型我无法直接生成图片
    assert "content.placeholder_prompt" in _row(zh_frame, 2817)["reasons"]  # input 无输入


@pytest.mark.parametrize("text, refusal", [
    ("作为一个AI语言模型，我不能回答这个问题。", True), ("作为一个人工智能，我没有感情。", True),
    ("作为人工智能的一个分支，机器学习很重要。", False), ("我无法抗拒冰淇淋。", False),
    ("En tant qu'IA, je ne peux pas répondre.", True), ("Como modelo de lenguaje, no tengo opiniones.", True),
    ("Als KI kann ich das nicht beurteilen.", True), ("AIとして、お答えできません。", True),
    ("wird oft als künstliche Intelligenz bezeichnet, weil", False), ("Maschinelles Lernen gilt als KI, aber", False),
    ("se conoce como inteligencia artificial, y", False), ("GPT-3 funciona como un modelo de lenguaje grande", False),
    ("ChatGPT作为人工智能，能够回答问题", False), ("画像認識はAIとして最も成功した", False),
    ("un système en tant qu'IA spécialisée", False),
])
def test_refusal_patterns_in_other_languages(text, refusal):
    from curate.signals.patterns import pattern

    assert pl.select(pl.lit(text).str.contains(pattern("refusal"))).item() is refusal


def test_a_chinese_answer_cut_at_a_comma_is_truncated(zh_frame, tmp_path):
    long = zh_frame.filter(pl.col("messages").list.get(1).struct.field("content").str.len_chars() > 120).head(1)
    msgs = long["messages"][0].to_list()
    cut = msgs[1]["content"].rstrip("。")[:100] + "，"
    f = write_jsonl(tmp_path / "cut.jsonl", [{"instruction": msgs[0]["content"], "input": "", "output": text}
                                             for text in (msgs[1]["content"], cut)])
    out = curate_frame(ingest([f]).frame, ZH_CFG)
    assert ["format.truncated" in r for r in out["reasons"]] == [False, True]


def test_a_looping_chinese_answer_repeats_on_characters(zh_frame, tmp_path):
    f = write_jsonl(tmp_path / "loop.jsonl", [{"instruction": "写一首关于秋天的诗。", "input": "",
                                              "output": "秋天来了秋天来了" * 12}])
    out = curate_frame(ingest([f]).frame, ZH_CFG)
    assert out["top_ngram_share"][0] > 0.2 and "repetition.ngrams" in out["reasons"][0]


def test_chinese_contamination_is_found_on_character_ngrams(zh_frame, tmp_path):
    prompt = next(p for p in zh_frame["messages"].list.get(0).struct.field("content")
                  if len(p) >= 40 and "\n" not in p)
    ev = write_jsonl(tmp_path / "eval.jsonl", [{"id": "zh-1", "instruction": prompt[:-3] + "一下吧"}])
    row = zh_frame.filter(pl.col("messages").list.get(0).struct.field("content") == prompt).head(1)
    out = curate_frame(row.with_columns(row_idx=pl.lit(0, pl.Int64)), ZH_CFG, load_eval_prompts([ev]))
    assert out["contamination_eval_id"][0] == "zh-1" and "contamination.eval" in out["reasons"][0]


def test_portuguese_and_spanish_rows_follow_their_file(tmp_path):
    lima = [json.loads(line) for line in LIMA.read_text(encoding="utf-8").splitlines()]
    other = [lima[i - 1] for i in (246, 255, 261, 264, 274, 293, 336, 395)]  # real pt/es questions and answers
    f = write_jsonl(tmp_path / "pt_es.jsonl", other)
    frame = run_curate([f], CurateConfig()).frame
    assert set(frame["lang_response"]) == {"pt", "es"}
    assert not frame["reasons"].list.contains("language.unexpected").any()  # the file's own mix
    pinned = run_curate([f], CurateConfig.model_validate({"signals": {"languages": ["en"]}})).frame
    assert pinned["reasons"].list.contains("language.unexpected").all()


@pytest.mark.slow
def test_chinese_files_do_not_flood_review_and_the_mislabelled_one_shows_its_mix():
    from curate.outputs import _languages

    res = run_curate([ZH], CurateConfig())
    per_file = res.frame.group_by("source_file").agg(
        zh=(pl.col("lang_response") == "zh").mean(),
        unexpected=pl.col("reasons").list.contains("language.unexpected").mean())
    mostly_zh = per_file.filter(pl.col("zh") > 0.5)
    assert mostly_zh.height == 6 and (mostly_zh["unexpected"] < 0.02).all()
    mix = _languages(res)["languages"]
    mislabelled = next(v for k, v in mix.items() if k.endswith("12345-15323-中文.json"))
    assert list(mislabelled)[:2] == ["en", "zh"] and mislabelled["en"] > 0.8
    ja_without_kana = res.frame.filter(
        ((pl.col("lang_response") == "ja") & ~pl.col("response").str.contains(r"[\p{Hiragana}\p{Katakana}]"))
        | ((pl.col("lang_prompt") == "ja") & ~pl.col("prompt").str.contains(r"[\p{Hiragana}\p{Katakana}]")))
    assert ja_without_kana.height == 0
    junk = res.frame.filter(pl.col("reasons").list.contains("content.junk"))
    assert junk.height <= 3  # 157 in the first release, nearly all ordinary Chinese punctuation
