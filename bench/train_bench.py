"""Benchmark Sieve's LoRA loop against Hugging Face ``Trainer`` + PEFT: same model, data, LoRA settings,
batch size, precision and number of steps, in one process. Prints real (non-padding) tokens/s and peak
memory. A script, not a test.

    python bench/train_bench.py                # SmolLM2-135M (the shipped GGUF), 8 steps of 4 rows each
    python bench/train_bench.py --steps 10 --rows 400
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "alpaca_52k" / "alpaca_data_52k.jsonl"))
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()

    import torch
    from transformers import Trainer, TrainingArguments

    from schemas.train_config import TrainConfig
    from train.data import collate, encode_all, load_conversations
    from train.loop import pick_device, train_lora, use_bf16
    from train.model import load_tokenizer, resolve_model_dir
    from train.recipe import lora_model

    cfg = TrainConfig(batch_size=args.batch, max_steps=args.steps, max_length=256, warmup_ratio=0.1)
    device = pick_device()
    bf16 = use_bf16(cfg, device)
    model_dir = resolve_model_dir(cfg)
    tok = load_tokenizer(model_dir)
    rows, _ = load_conversations(args.data)
    examples = encode_all(tok, rows[: args.rows], cfg.max_length, False).examples
    print(f"model {model_dir}; {len(examples)} rows; batch {args.batch}; {args.steps} steps; device {device}; "
          f"{'bf16 autocast' if bf16 else 'fp32'}; LoRA r={cfg.lora.r} {cfg.lora.target_modules}")

    # 1. Hugging Face Trainer + PEFT, on the same encoded rows, in their given order, padded per batch.
    model, trainable, _ = lora_model(model_dir, cfg, device)

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return len(examples)

        def __getitem__(self, i):
            return examples[i]

    def hf_collate(batch):
        ids, labels, mask = collate(batch, tok.pad_token_id)
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    targs = TrainingArguments(output_dir=str(ROOT / ".bench-tmp"), per_device_train_batch_size=args.batch,
                              max_steps=args.steps, learning_rate=cfg.lr, warmup_steps=int(0.1 * args.steps),
                              lr_scheduler_type="cosine", bf16=bf16, use_cpu=device == "cpu", report_to=[],
                              save_strategy="no", logging_steps=args.steps, dataloader_num_workers=0,
                              remove_unused_columns=False, seed=0)
    trainer = Trainer(model=model, args=targs, train_dataset=Rows(), data_collator=hf_collate)
    seen = {"tokens": 0}
    inner = hf_collate

    def counting(batch):
        seen["tokens"] += sum(len(e.input_ids) for e in batch)
        return inner(batch)

    trainer.data_collator = counting
    start = time.perf_counter()
    trainer.train()
    hf_s = time.perf_counter() - start
    hf_tps = seen["tokens"] / hf_s
    print(f"HF Trainer + PEFT : {seen['tokens']:,} tokens in {hf_s:6.1f} s = {hf_tps:8,.0f} tokens/s "
          f"(peak RSS {peak_gib():.2f} GiB)")
    del trainer, model

    # 2. Sieve's loop: length-grouped batches, same settings.
    model, _, _ = lora_model(model_dir, cfg, device)
    res = train_lora(model, tok.pad_token_id, examples, None, cfg, device)
    print(f"Sieve loop        : {res.tokens:,} tokens in {res.seconds:6.1f} s = {res.tokens_per_s:8,.0f} tokens/s "
          f"(peak RSS {peak_gib():.2f} GiB)")
    print(f"ratio Sieve / Trainer: {res.tokens_per_s / hf_tps:.2f}x  (trainable parameters: {trainable:,})")


if __name__ == "__main__":
    main()
