"""Verdicts that never drop good data (issue 8, points 1-5): dedup keys that keep meaningful symbols,
same-prompt rows sent to review, near duplicates without chaining, truncation without false alarms on
complete answers, and conversations that open with the assistant."""

import polars as pl
import pytest

from curate.dedup_near import assign_near, jaccard, near_duplicates, shingle_sets
from curate.ingest import ingest
from curate.pipeline import curate_frame
from curate.text import near_text
from schemas.config import CurateConfig, DedupConfig
from tests.conftest import ALPACA, rows_at, write_jsonl


def _alpaca(tmp_path, rows):
    return ingest([write_jsonl(tmp_path / "pairs.jsonl", rows)]).frame


@pytest.mark.parametrize("a, b", [
    (("Translate this Java code to C++: System.out.println(x);", "std::cout << x << std::endl;"),
     ("Translate this Java code to C#: System.out.println(x);", "Console.WriteLine(x);")),
    (("What is 12+3?", "12 + 3 = 15"), ("What is 12-3?", "12 - 3 = 9")),
    (("Is x<y when x=2 and y=3?", "Yes: 2 is less than 3."), ("Is x>y when x=2 and y=3?", "No: 2 is less than 3.")),
])
def test_a_pair_differing_by_one_meaningful_symbol_is_not_a_duplicate(tmp_path, a, b):
    frame = _alpaca(tmp_path, [{"instruction": p, "input": "", "output": r} for p, r in (a, b)])
    out = curate_frame(frame, CurateConfig())
    assert out["exact_cluster"].is_null().all() and out["prompt_cluster"].is_null().all()
    assert not any(code.startswith("dedup.") for codes in out["reasons"] for code in codes)


def test_same_prompt_other_answer_goes_to_review_and_the_best_is_kept(alpaca_frame, tmp_path):
    real = rows_at(alpaca_frame, [2, 3])  # two real answers, put under one prompt
    prompt = real["messages"][0][0]["content"]
    frame = _alpaca(tmp_path, [{"instruction": prompt, "input": "", "output": m[1]["content"]}
                               for m in real["messages"]] + [{"instruction": prompt, "input": "", "output": "Yes."}])
    out = curate_frame(frame, CurateConfig.model_validate({"dedup": {"near": False}}))
    losers = out.filter(pl.col("reasons").list.contains("dedup.same_prompt"))
    winner = out.filter(~pl.col("reasons").list.contains("dedup.same_prompt"))
    assert losers.height == 2 and winner.height == 1
    assert winner["quality"][0] == out["quality"].max()
    assert "drop" not in losers.filter(pl.col("reasons").list.len() == 1)["verdict"].to_list()


def _chain(base: str) -> list[str]:
    """a, b = a with its first 12% of words changed, c = b with the next 12% changed: neighbours are
    near duplicates, the ends are not."""
    words = base.split()
    cut = max(1, round(0.12 * len(words)))
    swap = lambda ws: [w.upper()[::-1] + "q" for w in ws]  # noqa: E731
    b = swap(words[:cut]) + words[cut:]
    c = swap(words[:2 * cut]) + words[2 * cut:]
    return [base, " ".join(b), " ".join(c)]


def test_near_duplicates_do_not_chain_and_report_similarity_to_the_kept_row(alpaca_frame):
    long = alpaca_frame.filter(pl.col("messages").list.get(1).struct.field("content").str.len_chars() > 1200)
    texts = _chain(long["messages"][0][1]["content"].lower())
    cfg = DedupConfig(numbers_must_match=False)  # the edits reverse some numbers; chaining is the point here
    sets = shingle_sets(texts, cfg)
    ab, bc, ac = jaccard(sets[0], sets[1]), jaccard(sets[1], sets[2]), jaccard(sets[0], sets[2])
    assert ab >= cfg.threshold and bc >= cfg.threshold and ac < cfg.threshold  # the premise: a chain
    res = near_duplicates(texts, cfg)
    assert res.cluster[0] == res.cluster[1] == res.cluster[2] >= 0  # one candidate group
    kept_of, sim = assign_near(res.cluster, texts, cfg)  # quality order: a, b, c
    assert kept_of.tolist() == [-1, 0, -1]  # c is not a copy of a, whatever b says
    assert sim[1] == pytest.approx(ab)


def test_a_maths_problem_with_another_operator_is_not_a_near_duplicate(tmp_path):
    base = ("A farmer has {a} sheep and buys {b} more at the market on Saturday morning. The next week he "
            "sells {c} of them to a neighbour. How many sheep does the farmer have at the end of the month?")
    rows = [{"instruction": base.format(a=45, b=15, c=10), "input": "", "output": "45 + 15 - 10 = 50 sheep."},
            {"instruction": base.format(a=45, b=15, c=10).replace("buys", "loses"), "input": "",
             "output": "45 - 15 - 10 = 20 sheep."}]
    out = curate_frame(_alpaca(tmp_path, rows), CurateConfig())
    assert not out["reasons"].list.contains("dedup.near").any()
    same = curate_frame(_alpaca(tmp_path, [rows[0], dict(rows[0], instruction=rows[0]["instruction"]
                                                          .replace("Saturday", "Sunday"))]), CurateConfig())
    assert same["reasons"].list.contains("dedup.near").sum() == 1  # the same numbers: still a duplicate


def test_near_similarity_column_is_the_exact_jaccard_with_the_kept_member(alpaca_frame):
    out = curate_frame(rows_at(alpaca_frame, [1130, 1133]), CurateConfig())
    loser = out.filter(pl.col("reasons").list.contains("dedup.near"))
    kept = out.filter(~pl.col("reasons").list.contains("dedup.near"))
    texts = pl.concat([loser, kept]).select(near_text())["text"].to_list()
    sets = shingle_sets(texts, DedupConfig())
    assert loser["near_similarity"][0] == pytest.approx(jaccard(sets[0], sets[1]), abs=1e-6)
    assert loser["near_cluster"][0] == kept["row_idx"][0] == kept["near_cluster"][0]


def test_truncation_spares_complete_maths_code_and_list_answers():
    rows = pl.read_ndjson(ALPACA, infer_schema_length=None).with_row_index("line", offset=1)
    maths = rows.filter(pl.col("instruction").str.contains(r"(?i)calculat|solve|equation|\d\s*[-+*/]\s*\d"))
    code = rows.filter(pl.col("instruction").str.contains(r"(?i)\bcode\b|program|function|python|sql"))
    assert maths.height > 1000 and code.height > 1000  # thousands of real rows
    from curate.signals.content import _truncated

    for part in (maths, code):
        flagged = part.select(t=_truncated(pl.col("output"), 30))["t"].sum()
        assert flagged / part.height < 0.002  # one row in 500 at most (it was one in 100 before)


@pytest.mark.parametrize("ending, truncated", [
    ("so the final answer is 2x + 5 = 15", False),
    ("```python\nprint(total)\n```", False),
    ("- oranges\n- apples\n- grapes and pears", False),
    ("The last step of the method is to add the", True),
    ("and then the model stops in the middle of a sentence,", True),
    ("```python\nfor i in range(10):\n    print(i", True),
    ("which gives the pair (left, right", True),
])
def test_truncation_cues(tmp_path, alpaca_frame, ending, truncated):
    body = rows_at(alpaca_frame, [3])["messages"][0][1]["content"]  # a complete real answer, 30+ words
    frame = _alpaca(tmp_path, [{"instruction": "Explain it.", "input": "", "output": f"{body}\n\n{ending}"}])
    out = curate_frame(frame, CurateConfig())
    assert ("format.truncated" in out["reasons"][0]) is truncated


def test_a_conversation_that_opens_with_the_assistant_gets_a_structure_code(tmp_path):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Name a prime."}, {"role": "assistant", "content": "Seven is a prime."}]
    frame = ingest([write_jsonl(tmp_path / "chat.jsonl", [{"messages": msgs}])]).frame
    out = curate_frame(frame, CurateConfig())
    assert out["reasons"].to_list() == [["structure.assistant_first"]] and out["verdict"][0] == "review"
