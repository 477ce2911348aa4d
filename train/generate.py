"""``sieve generate``: answer a prompt with the base model and one or more trained adapters."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.train_config import TrainConfig
from train.errors import TrainUsageError
from train.model import load_tokenizer, resolve_model_dir


def base_model_of(adapter: Path) -> str:
    """The base model a ``sieve train`` output folder (or bare adapter folder) was trained on."""
    manifest = adapter.parent / "manifest.json" if adapter.name == "adapter" else adapter / "manifest.json"
    try:
        if manifest.is_file():
            return json.loads(manifest.read_text())["model"]
        return json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainUsageError(f"--adapter {adapter}: cannot tell its base model ({exc})") from None


def generate(prompt: str, adapters: list[Path], max_new_tokens: int = 128, base: str | None = None) -> dict[str, str]:
    """Greedy answers keyed by "base" and by each adapter's folder. All adapters share one base model."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    dirs = [a / "adapter" if (a / "adapter").is_dir() else a for a in adapters]
    if not prompt.strip():
        raise TrainUsageError("PROMPT is empty: give the text to answer")
    for given, d in zip(adapters, dirs):
        if not (d / "adapter_config.json").is_file():
            raise TrainUsageError(f"--adapter {given}: not a sieve train output or adapter folder "
                                  "(no adapter_config.json)")
        if not any((d / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin")):
            raise TrainUsageError(f"--adapter {given}: the adapter's weights are missing (no "
                                  f"adapter_model.safetensors in {d})")
    model_dir = base or (base_model_of(dirs[0]) if dirs else resolve_model_dir(TrainConfig()))
    tok = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)

    def run(m) -> str:
        with torch.no_grad():
            out = m.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()

    answers = {"base": run(model)}
    if dirs:
        peft_model = PeftModel.from_pretrained(model, dirs[0], adapter_name="a0")
        for i, d in enumerate(dirs):
            if i:
                peft_model.load_adapter(d, adapter_name=f"a{i}")
            peft_model.set_adapter(f"a{i}")
            answers[str(adapters[i])] = run(peft_model)
    return answers
