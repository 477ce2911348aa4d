"""Write the two eval files of the README's learning curve (nothing is copied into the project: they are
cut from ../shared/data at run time).

- self_instruct_252.jsonl: the 252 user-oriented self-instruct prompts with their human-written reference
  answers (short, task-like);
- alpaca_eval_553.jsonl: the other 553 AlpacaEval prompts (helpful_base, koala, oasst, vicuna), answered by
  one model (gpt4_1106_preview: long, chatty answers). The self-instruct prompts are AlpacaEval's
  "selfinstruct" subset, so the two files share no prompt.

Usage: python bench/curve_evals.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main(out: Path, reference: str = "gpt4_1106_preview") -> None:
    out.mkdir(parents=True, exist_ok=True)
    si = SHARED / "self_instruct_252" / "user_oriented_252_alpaca.jsonl"
    (out / "self_instruct_252.jsonl").write_text(si.read_text(encoding="utf-8"), encoding="utf-8")
    rows = [json.loads(line) for line in (SHARED / "alpaca_eval" / "alpaca_eval_805_prompts_with_refs.jsonl")
            .read_text(encoding="utf-8").splitlines() if line.strip()]
    others = [r for r in rows if r["dataset"] != "selfinstruct"]
    with open(out / "alpaca_eval_553.jsonl", "w", encoding="utf-8") as fh:
        for r in others:
            fh.write(json.dumps({"instruction": r["instruction"], "input": "", "output": r[f"output_{reference}"],
                                 "dataset": r["dataset"]}, ensure_ascii=False) + "\n")
    print(f"{out}/self_instruct_252.jsonl: 252 rows; {out}/alpaca_eval_553.jsonl: {len(others)} rows "
          f"(references: {reference})")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/evals"))
