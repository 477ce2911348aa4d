"""Training data: masking under a template that injects a system prompt, Sieve ids kept through
curated.jsonl, curate run folders checked, and eval rows kept out of every arm by content."""

import json

import polars as pl
import pytest

from tests.conftest import ALPACA, LIMA, write_jsonl
from tests.test_train import SAMPLE, cfg_for, tiny, tok  # noqa: F401  (module fixtures)
from train.data import IGNORE, encode, load_conversations, preflight, token_counts
from train.errors import TrainUsageError

# SmolLM2-135M-Instruct's own template: it injects a default system prompt when a conversation has none.
SMOLLM2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
           "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
           "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
           "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


@pytest.fixture
def smol_tok(tiny):  # noqa: F811
    from train.model import load_tokenizer

    t = load_tokenizer(str(tiny))
    t.chat_template = SMOLLM2
    return t


def trained_text(tok, row) -> str:  # noqa: F811
    enc = encode(tok, row, 512, False)
    return tok.decode([t for t, lab in zip(enc.input_ids, enc.labels) if lab != IGNORE])


@pytest.mark.parametrize("messages, expected", [
    ([{"role": "assistant", "content": "Hello there."}], "Hello there.<|im_end|>\n"),
    ([{"role": "assistant", "content": "Hi."}, {"role": "user", "content": "Name a colour."},
      {"role": "assistant", "content": "Blue."}], "Hi.<|im_end|>\nBlue.<|im_end|>\n"),
    ([{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}], "Blue.<|im_end|>\n"),
    ([{"role": "system", "content": "Be terse."}, {"role": "assistant", "content": "Ok."}], "Ok.<|im_end|>\n"),
])
def test_no_loss_on_an_injected_system_prompt_or_a_role_header(smol_tok, messages, expected):
    row = {"id": "r", "messages": messages}
    got = trained_text(smol_tok, row)
    assert got == expected
    assert "SmolLM" not in got and "<|im_start|>" not in got
    assert 0 < preflight(smol_tok, [row]) < 1


def test_token_counts_are_the_lengths_encode_gives(smol_tok):
    """The batched count sieve select uses is training's own length, on real multi-turn and Alpaca rows."""
    lines = LIMA.read_text(encoding="utf-8").splitlines()
    lima = [json.loads(line)["messages"] for line in lines[:20] + lines[-20:]]  # the last ones are multi-turn
    alpaca = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines()[:40]]
    convos = lima + [[{"role": "user", "content": r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")},
                      {"role": "assistant", "content": r["output"]}] for r in alpaca]
    convos.append([{"role": "user", "content": "a prompt alone"}])  # training cannot use it
    want = [None if isinstance(e := encode(smol_tok, {"id": "", "messages": c}, 10**9, False), str)
            else len(e.input_ids) for c in convos]
    assert any(len(c) > 2 for c in lima) and want[-1] is None and all(n for n in want[:-1])
    assert token_counts(smol_tok, convos) == want


def test_preflight_names_an_injected_prompt_that_carries_loss(smol_tok):
    """A template that repeats its system prompt inside assistant turns: the check must refuse it."""
    from train.errors import MaskingError

    injected = "'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n'"
    smol_tok.chat_template = SMOLLM2.replace(
        "+ message['content']", f"+ ({injected} if message['role'] == 'assistant' else '') + message['content']")
    row = {"id": "r", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}
    with pytest.raises(MaskingError, match="injected system prompt"):
        preflight(smol_tok, [row])


def test_a_curated_jsonl_keeps_its_sieve_ids(tmp_path):
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()[:5]]
    path = write_jsonl(tmp_path / "curated.jsonl", [{**r, "sieve": {"id": f"sv{i}", "quality": 0.5}}
                                                    for i, r in enumerate(rows)])
    got, _ = load_conversations(path)
    assert [r["id"] for r in got] == [f"sv{i}" for i in range(5)]
    plain, _ = load_conversations(SAMPLE)  # a file without Sieve ids keeps the ingest ids
    assert plain[0]["id"] and not plain[0]["id"].startswith("sv")


def make_run(folder, rows: list[dict], manifest: str | None = '{"tool": "sieve curate", "counts": {}}'):
    """A curate run folder built by hand: raw rows in annotated.parquet, all of them in curated.jsonl."""
    folder.mkdir()
    pl.DataFrame({"id": [f"raw{i}" for i in range(len(rows))], "messages": [r["messages"] for r in rows]}).write_parquet(
        folder / "annotated.parquet")
    write_jsonl(folder / "curated.jsonl", [{"messages": r["messages"], "sieve": {"id": f"cur{i}"}}
                                           for i, r in enumerate(rows)])
    if manifest is not None:
        (folder / "manifest.json").write_text(manifest)
    return folder


@pytest.mark.parametrize("manifest", [None, '{"tool": "sieve cur', "[]"])
def test_a_curate_run_folder_without_a_complete_manifest_is_refused(tmp_path, manifest):
    rows, _ = load_conversations(SAMPLE)
    run = make_run(tmp_path / "run", rows[:10], manifest)
    with pytest.raises(TrainUsageError, match=f"{run}.*manifest"):
        load_conversations(run)


def test_a_stale_review_store_is_refused_and_a_corrupt_one_is_one_error(tmp_path):
    """The folder was curated again after its store was made: training must not use the old decisions."""
    from review_app.errors import RunMismatchError
    from review_app.store import connect, set_meta
    from train.errors import TrainError

    rows, _ = load_conversations(SAMPLE)
    run = make_run(tmp_path / "run", rows[:10], '{"tool": "sieve curate", "run_id": "new"}')
    con = connect(run / "review.sqlite")
    set_meta(con, "run_id", "old")
    con.close()
    with pytest.raises(RunMismatchError, match="--carry-over"):
        load_conversations(run)
    (run / "review.sqlite").write_bytes(b"this is not a database" * 100)
    for name in ("review.sqlite-wal", "review.sqlite-shm"):
        (run / name).unlink(missing_ok=True)
    with pytest.raises(TrainError, match="review store"):
        load_conversations(run)


def arms_of(tiny, run, eval_file=None):  # noqa: F811
    """Every row each arm of a curve could train on (all of its order, two seeds)."""
    from train.curve_setup import prepare_curve

    cfg = cfg_for(tiny, eval_size=10, max_eval_rows=100, truncate=True, curve={"sizes": [8], "generation_prompts": 0})
    inputs = prepare_curve(run, cfg, [eval_file] if eval_file else [])
    arms = {name: arm.take(0, rows=10_000) + arm.take(1, rows=10_000) for name, arm in inputs.arms.items()}
    return inputs, arms


def assert_no_eval_row_in(inputs, arms):
    held = {tuple(e.input_ids) for e in inputs.evals[0].examples}
    assert set(arms) == {"curated", "random", "longest"}
    for arm, examples in arms.items():
        assert not held & {tuple(e.input_ids) for e in examples}, arm


def test_the_default_eval_split_is_in_no_arm(tiny, tmp_path):  # noqa: F811
    """The raw arm reads annotated.parquet, whose ids are not curated.jsonl's: rows are matched by content."""
    rows, _ = load_conversations(SAMPLE)
    inputs, arms = arms_of(tiny, make_run(tmp_path / "run", rows[:60]))
    assert len(inputs.evals[0].examples) == 10
    assert_no_eval_row_in(inputs, arms)
    assert len(arms["random"]) == len(arms["curated"]) == 2 * 50
    assert {e.row_id for e in arms["curated"]} <= {f"cur{i}" for i in range(60)}  # Sieve ids, kept


def test_eval_file_rows_are_in_no_arm_even_rewritten(tiny, tmp_path):  # noqa: F811
    """Rows of an --eval file are left out of both arms, and so is a copy differing in case and spacing."""
    rows, _ = load_conversations(SAMPLE)
    rows = rows[:60]
    eval_file = write_jsonl(tmp_path / "eval.jsonl", [{"messages": r["messages"]} for r in rows[:5]])
    copy = {"messages": [{"role": m["role"], "content": "  " + m["content"].upper().replace(" ", "  ") + "\n"}
                         for m in rows[0]["messages"]]}
    inputs, arms = arms_of(tiny, make_run(tmp_path / "run", rows + [copy]), eval_file)
    assert_no_eval_row_in(inputs, arms)
    assert len(arms["curated"]) == len(arms["random"]) == 2 * 55
    assert inputs.info["eval_overlap_removed"] == 6 and inputs.info["raw_eval_overlap_removed"] == 6


def test_a_store_that_never_imported_the_run_does_not_stand_in_for_it(tmp_path):
    """`sieve review add-reviewer RUN` makes RUN/review.sqlite before any import: training still reads
    the run's kept rows, and the store alone (no run to fall back on) is refused, naming the file."""
    from review_app.accounts import add_reviewer
    from review_app.errors import NoRunError
    from review_app.store import connect

    rows, _ = load_conversations(SAMPLE)
    run = make_run(tmp_path / "run", rows[:10], '{"tool": "sieve curate", "run_id": "r1"}')
    before, _ = load_conversations(run)
    add_reviewer(connect(run / "review.sqlite"), "bob", "pw12345678")
    after, info = load_conversations(run)
    assert after == before and [r["id"] for r in after] == [f"cur{i}" for i in range(10)]
    assert "review_store" not in info  # the provenance names the file actually read
    with pytest.raises(NoRunError, match=f"{run / 'review.sqlite'}: the review store holds no curate run"):
        load_conversations(run / "review.sqlite")
