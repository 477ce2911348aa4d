"""One test per reason code, each on real rows that trigger exactly that code (minimal rows where the
real data has none), plus the verdict and representative logic."""

import polars as pl
import pytest

from curate.ingest import ingest
from curate.pipeline import curate_frame
from curate.rules import RULES
from curate.structure import structure_flags
from schemas import check_messages
from schemas.config import DEFAULT_ACTIONS, CurateConfig
from tests.conftest import DATA, LIMA, SELF_INSTRUCT, SHAREGPT, ZH, rows_at, write_jsonl


EN = CurateConfig.model_validate({"signals": {"languages": ["en"]}})  # one row is no language mix: pin it


def reasons_of(frame: pl.DataFrame, cfg: CurateConfig | None = None, evals=None) -> list[list[str]]:
    out = curate_frame(frame, cfg or EN, evals)
    return [sorted(r) for r in out["reasons"].to_list()]


ALPACA_SINGLE = [  # source line in alpaca_data_52k.jsonl -> the only code it gets
    (82, "length.response_too_short"), (136, "content.external_reference"), (2751, "pii.email"),
    (649, "repetition.chars"), (41220, "format.truncated"), (1404, "pii.phone"), (9, "content.placeholder_response"),
    (7025, "pii.ip"), (13818, "content.echo"), (975, "repetition.lines"), (1603, "repetition.ngrams"),
    (46176, "content.junk"), (564, "content.placeholder_prompt"),
    (7023, "content.refusal"), (27840, "pii.card"),
]


@pytest.mark.parametrize("line, code", ALPACA_SINGLE)
def test_real_alpaca_row_triggers_exactly_its_code(alpaca_frame, line, code):
    assert reasons_of(rows_at(alpaca_frame, [line])) == [[code]]


def test_empty_response_gets_both_empty_codes(alpaca_frame):
    empties = alpaca_frame.filter(pl.col("messages").list.get(1).struct.field("content").str.strip_chars() == "")
    assert empties.height == 28
    got = reasons_of(empties.with_columns(row_idx=pl.int_range(pl.len(), dtype=pl.Int64)))
    assert all({"length.response_empty", "structure.empty_content"} <= set(r) for r in got)


def test_translation_prompts_may_be_answered_in_another_language(alpaca_frame):
    # "Translate ... from English to French." answered in French: neither unexpected nor a mismatch
    assert reasons_of(rows_at(alpaca_frame, [290])) == [[]]
    assert reasons_of(rows_at(alpaca_frame, [290]), CurateConfig()) == [[]]


def test_a_real_chinese_row_is_unexpected_where_english_is_pinned():
    zh = ingest([ZH / "alpaca_data-0-3252-中文-已完成.json"]).frame
    row = rows_at(zh, [27])  # 辨别其中不同的一个。 Twitter, Instagram, Telegram -> Telegram
    assert reasons_of(row) == [["language.unexpected"]]
    assert reasons_of(row, CurateConfig.model_validate({"signals": {"languages": ["zh"]}})) == [[]]


def test_response_too_long_and_prompt_too_long():
    lima = ingest([LIMA]).frame
    assert reasons_of(rows_at(lima, [703])) == [["length.response_too_long"]]
    cfg = CurateConfig.model_validate({"rules": {"max_prompt_tokens": 1000}})
    assert "length.prompt_too_long" in reasons_of(rows_at(lima, [807]), cfg)[0]


def test_readability_low_is_off_by_default_and_configurable(alpaca_frame):
    row = rows_at(alpaca_frame, [21])  # "DNA stands for deoxyribonucleic acid." scores about -52
    assert reasons_of(row) == [[]]
    cfg = CurateConfig.model_validate({"rules": {"min_readability": 0}})
    assert reasons_of(row, cfg) == [["readability.low"]]


def test_a_threshold_set_to_none_switches_its_rule_off(alpaca_frame):
    cfg = CurateConfig.model_validate({"rules": {"min_response_chars": None}})
    assert reasons_of(rows_at(alpaca_frame, [82]), cfg) == [[]]


def test_dedup_exact_keeps_one_of_a_real_pair():
    zh = ingest([ZH]).frame
    pair = pl.concat([rows_at(zh, [9327], "0-3252-中文-已完成.json"), rows_at(zh, [8323], "（jlh）中文-已完成.json")])
    pair = pair.with_columns(row_idx=pl.int_range(pl.len(), dtype=pl.Int64))
    cfg = CurateConfig.model_validate({"signals": {"languages": ["zh"]}})
    assert reasons_of(pair, cfg) == [[], ["dedup.exact"]]


def test_dedup_near_keeps_the_better_of_a_real_pair(alpaca_frame):
    out = curate_frame(rows_at(alpaca_frame, [1130, 1133]), CurateConfig())
    assert out["reasons"].to_list() == [["dedup.near"], []]
    assert out["dup_cluster"][0] == out["dup_cluster"][1] and out["near_similarity"][0] >= 0.7


def test_dedup_same_prompt_keeps_the_best_answer():
    share = ingest([SHAREGPT]).frame
    prompt = pl.col("messages").list.eval(pl.element().filter(pl.element().struct.field("role") == "user")
                                          .struct.field("content")).list.join("|")
    answers = pl.col("messages").list.last().struct.field("content")
    share = share.with_columns(p=prompt, a=answers)
    target = share.group_by("p").agg(n=pl.col("a").n_unique()).filter(pl.col("n") >= 3).sort("p")["p"][0]
    rows = share.filter(pl.col("p") == target).unique("a", keep="first", maintain_order=True).head(3).drop("p", "a")
    rows = rows.with_columns(row_idx=pl.int_range(pl.len(), dtype=pl.Int64))
    cfg = CurateConfig.model_validate({"dedup": {"near": False}, "rules": {"max_response_reuse": None}})
    out = curate_frame(rows, cfg)
    codes = out["reasons"].to_list()
    assert sum(c == ["dedup.same_prompt"] for c in codes) == rows.height - 1
    assert set(curate_frame(rows, cfg)["verdict"]) == {"keep", "review"}  # a reviewer decides, nothing dropped
    best = out.filter(pl.col("reasons").list.len() == 0)["quality"][0]
    assert best == out["quality"].max()


def test_repeated_response_across_many_prompts():
    null = ingest([DATA / "alpaca_eval" / "outputs" / "NullModel.json"]).frame.head(5)
    cfg = CurateConfig.model_validate({"dedup": {"near": False}})
    for reasons in reasons_of(null, cfg):
        assert "content.repeated_response" in reasons


def test_contamination_flags_exactly_the_self_instruct_prompts_of_alpaca_eval():
    import json

    from curate.contamination import load_eval_prompts

    out = ingest([DATA / "alpaca_eval" / "outputs" / "gpt4_1106_preview.json"]).frame
    res = curate_frame(out, CurateConfig(), load_eval_prompts([SELF_INSTRUCT]))
    hit = res["reasons"].list.contains("contamination.eval").to_list()
    from_self_instruct = [json.loads(m)["dataset"] == "selfinstruct" for m in res["metadata"]]
    assert hit == from_self_instruct and sum(hit) == 252
    ids = res.filter(pl.Series(hit))["contamination_eval_id"]
    assert ids.n_unique() == 252 and ids.str.starts_with("user_oriented_task_").all()


@pytest.mark.parametrize("messages, code", [
    ([{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hello there, friend."}],
     "structure.consecutive_user"),
    ([{"role": "user", "content": "Hi there"}, {"role": "robot", "content": "Beep boop beep."}],
     "structure.no_assistant"),
])
def test_structure_codes_through_the_pipeline(tmp_path, messages, code):
    frame = ingest([write_jsonl(tmp_path / "s.jsonl", [{"messages": messages}])]).frame
    assert code in reasons_of(frame)[0]


def test_engine_structure_checks_agree_with_the_schema_checks(tmp_path):
    frames = [ingest([p]).frame for p in (LIMA, SHAREGPT)]
    odd = write_jsonl(tmp_path / "odd.jsonl", [
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]},
        {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"},
                      {"role": "system", "content": " "}, {"role": "assistant", "content": "a"}]},
        {"messages": [{"role": "critic", "content": "c"}, {"role": "user", "content": "u"}]},
    ])
    frames.append(ingest([odd]).frame)
    for frame in frames:
        flags = frame.select(**structure_flags())
        for msgs, row in zip(frame["messages"].to_list(), flags.iter_rows(named=True)):
            assert sorted(c for c, v in row.items() if v) == check_messages(msgs)


def test_every_rule_has_a_default_action():
    assert {r.code for r in RULES} == set(DEFAULT_ACTIONS)


def test_an_answer_of_symbols_alone_is_no_echo_of_a_prompt_of_symbols(tmp_path):
    """Emoji and punctuation fold to nothing in the echo key: two different strings of them are not an
    echo of each other, while a real echo still is."""
    f = write_jsonl(tmp_path / "e.jsonl", [
        {"instruction": "\U0001f600\U0001f600\U0001f600", "input": "", "output": "\U0001f389\U0001f389\U0001f389\U0001f389"},
        {"instruction": "Repeat after me: the quick brown fox jumps over the lazy dog.", "input": "",
         "output": "Repeat after me: the quick brown fox jumps over the lazy dog."}])
    echo = [("content.echo" in r) for r in reasons_of(ingest([f]).frame)]
    assert echo == [False, True]
