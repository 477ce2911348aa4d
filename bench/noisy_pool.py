"""A noisier raw pool for the README's second learning curve: Alpaca rows with learnable defects injected.

Written to OUT at run time from ../shared/data (nothing is copied into the project). Of N rows drawn from
alpaca_52k (seeded), these shares get their answer replaced:

- refusal (8%): AI boilerplate refusals, composed from a few openings and reasons;
- canned (6%): one of three stock answers that fit no prompt in particular;
- truncated (6%): the real answer cut at about half, ending mid-sentence;
- wrong_language (5%): a Chinese answer from alpaca_zh_partial (another task's: the translations are not
  aligned row for row with the English file);
- placeholder (3%): an answer template with its placeholders left unfilled.

The rest keep their real answers. Each row's metadata names what was done to it ("noise"), so the curate
run's verdicts can be checked against it.

Usage: python bench/noisy_pool.py OUT.jsonl [--rows 8000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARES = {"refusal": 0.08, "canned": 0.06, "truncated": 0.06, "wrong_language": 0.05, "placeholder": 0.03}
OPENINGS = ["I'm sorry, but as an AI language model, I cannot", "As an AI language model, I am unable to",
            "I apologize, but I am not able to", "Sorry, as an AI I can't", "I'm sorry, but I cannot"]
REASONS = ["help with this request.", "provide an answer to this question.", "complete this task.",
           "fulfill this request as it requires personal opinions.", "browse the internet to find this information.",
           "answer this, as I do not have access to that information."]
CANNED = ["That is a great question! There are many factors to consider, and the answer depends on your specific "
          "situation. It is always a good idea to do some research and consult with experts.",
          "Thank you for your question. Here is the answer you requested. I hope this helps!",
          "There are many ways to approach this. The best approach depends on the context."]
PLACEHOLDERS = ["Dear [Name],\n\n[Insert answer here]\n\nBest regards,\n[Your Name]",
                "The answer is <insert answer>. For more details, see [link].",
                "1. [First point]\n2. [Second point]\n3. [Third point]", "Title: <TITLE>\n\n<BODY TEXT GOES HERE>"]


def truncate(text: str, rng: random.Random) -> str | None:
    words = text.split(" ")
    if len(words) < 16:
        return None
    cut = rng.randint(len(words) // 3, 2 * len(words) // 3)
    return " ".join(words[:cut]).rstrip(".!?") + rng.choice([",", " and", " the", " of"])


def chinese_answers() -> list[str]:
    out = []
    for path in sorted((SHARED / "alpaca_zh_partial" / "original").glob("alpaca_data-0-3252*.json")):
        out += [r["output"] for r in json.loads(path.read_text(encoding="utf-8")) if len(r.get("output", "")) > 20]
    return out


def build(out: Path, rows: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    source = [json.loads(line) for line in (SHARED / "alpaca_52k" / "alpaca_data_52k.jsonl").read_text().splitlines()]
    picked = rng.sample(source, rows)
    zh = chinese_answers()
    counts = {"clean": 0, **{k: 0 for k in SHARES}}
    with open(out, "w", encoding="utf-8") as fh:
        for row in picked:
            draw, kind, acc = rng.random(), "clean", 0.0
            for name, share in SHARES.items():
                acc += share
                if draw < acc:
                    kind = name
                    break
            new = {"refusal": lambda: f"{rng.choice(OPENINGS)} {rng.choice(REASONS)}",
                   "canned": lambda: rng.choice(CANNED), "truncated": lambda: truncate(row["output"], rng),
                   "wrong_language": lambda: rng.choice(zh), "placeholder": lambda: rng.choice(PLACEHOLDERS),
                   "clean": lambda: row["output"]}[kind]()
            if new is None:  # too short to cut: left clean
                kind, new = "clean", row["output"]
            counts[kind] += 1
            fh.write(json.dumps({**row, "output": new, "metadata": {"noise": kind}}, ensure_ascii=False) + "\n")
    return counts


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(f"{a.out}: {build(a.out, a.rows, a.seed)}")
