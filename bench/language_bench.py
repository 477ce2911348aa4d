"""Language detection backends: accuracy and speed on real rows. A script, not a test.

Chinese: responses of the finished translation file whose text is more than half Han characters;
English: responses of the 52k Alpaca file. Texts shorter than ``language_min_chars`` get no language
and are not scored.

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
    sets = {"zh": resp.filter(han > 0.5).head(1500),
            "en": ingest([DATA / "alpaca_52k" / "alpaca_data_52k.jsonl"]).frame["messages"]
            .list.get(1).struct.field("content").head(3000)}
    for backend in ("fasttext", "langdetect"):
        for label, texts in sets.items():
            start = time.perf_counter()
            got = detect_languages(texts, backend, min_chars)
            seconds = time.perf_counter() - start
            told = got.filter(pl.col("lang").is_not_null())
            acc = (told["lang"] == label).mean()
            print(f"{backend:>10} {label}: accuracy {acc:.4f} on {told.height:,} of {len(texts):,} texts, "
                  f"{len(texts) / seconds:,.0f} texts/s")


if __name__ == "__main__":
    main()
