"""Language detection backends: accuracy and speed on real rows. A script, not a test.

Chinese: responses of the finished translation file whose text is more than half Han characters
(all of them, and the short ones of 2-12 characters, where the small model errs most); English:
responses of the 52k Alpaca file. Each set is run with and without the script rule (Han without kana
is Chinese, kana Japanese, Hangul Korean). "told" is the share of texts that get a language at all
(texts shorter than ``language_min_chars`` get none unless the script settles them); "accuracy" is the
share of told texts labelled correctly; "as ja" counts Chinese texts labelled Japanese.

    python bench/language_bench.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    import polars as pl

    from curate.ingest import ingest
    from curate.signals.language import detect_languages
    from schemas.config import SignalsConfig

    min_chars = SignalsConfig().language_min_chars
    zh = ingest([DATA / "alpaca_zh_partial" / "original" / "alpaca_data-0-3252-中文-已完成.json"]).frame
    resp = zh["messages"].list.get(1).struct.field("content")
    han = resp.str.count_matches(r"\p{Han}") / resp.str.len_chars().clip(lower_bound=1)
    short = resp.filter((han > 0.5) & (resp.str.len_chars() <= 12) & (resp.str.len_chars() >= 2))
    sets = {"zh": ("zh", resp.filter(han > 0.5).head(1500)), "zh short": ("zh", short),
            "en": ("en", ingest([DATA / "alpaca_52k" / "alpaca_data_52k.jsonl"]).frame["messages"]
                   .list.get(1).struct.field("content").head(3000))}
    for backend in ("fasttext", "langdetect"):
        for label, (lang, texts) in sets.items():
            for rule in (False, True):
                start = time.perf_counter()
                got = detect_languages(texts, backend, min_chars, script_rule=rule)
                seconds = time.perf_counter() - start
                told = got.filter(pl.col("lang").is_not_null())
                acc = (told["lang"] == lang).mean() if told.height else float("nan")
                print(f"{backend:>10} {label:<8} script rule {'on ' if rule else 'off'}: told {told.height / len(texts):6.1%}"
                      f"  accuracy {acc:.4f}  as ja {(told['lang'] == 'ja').sum():>4}  of {len(texts):,} texts, "
                      f"{len(texts) / seconds:,.0f} texts/s")


if __name__ == "__main__":
    main()
