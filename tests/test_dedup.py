"""Exact and near-duplicate clustering, and datasketch-identical MinHash signatures."""

import random

import numpy as np
import polars as pl
from datasketch import MinHash

from curate.dedup_exact import exact_clusters
from curate.dedup_near import datasketch_permutations, near_duplicates, shingle_hashes, signatures, token_arrays
from curate.text import fold, fold_loose
from schemas.config import DedupConfig


def test_signatures_equal_datasketch_for_the_same_shingle_hashes(alpaca_frame):
    cfg = DedupConfig()
    texts = [m[1]["content"].lower() for m in alpaca_frame.head(20)["messages"].to_list()]
    perms = datasketch_permutations(cfg.num_perm, cfg.seed)
    sig = signatures(texts, cfg, perms)
    tokens, offsets = token_arrays(texts, "char")
    hv, row = shingle_hashes(tokens, offsets, cfg.ngram)
    for i in range(len(texts)):
        ref = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, scheme="affine32", hashfunc=int)
        ref.update_batch(hv[row == i].tolist())
        assert np.array_equal(ref.hashvalues, sig[i])


def test_fold_ignores_case_whitespace_and_width_but_keeps_punctuation():
    frame = pl.DataFrame({"t": ["Hello,  World!", "hello, world!", "ＨＥＬＬＯ,\u3000world!", "hello world"]})
    assert frame.select(fold(pl.col("t")))["t"].unique(maintain_order=True).to_list() == ["hello, world!", "hello world"]
    assert frame.select(fold_loose(pl.col("t")))["t"].unique().to_list() == ["hello world"]


def test_exact_and_same_prompt_clusters():
    frame = pl.DataFrame({"norm_prompt": ["a", "a", "a", "b", ""], "norm_response": ["x", "x", "y", "x", "z"]})
    out = exact_clusters(frame)
    ex, pr = out["exact_cluster"].to_list(), out["prompt_cluster"].to_list()
    assert ex[0] == ex[1] and ex[0] is not None and ex[2] is None and ex[3] is None
    assert pr[0] == pr[1] == pr[2] and pr[3] is None and pr[4] is None
    assert out["response_reuse"].to_list() == [2, 2, 1, 2, 1]
    # rows with no prompt and no response text (a system turn alone) are not copies of each other
    empty = exact_clusters(pl.DataFrame({"norm_prompt": ["", "", "a"], "norm_response": ["", "", "x"]}))
    assert empty["exact_cluster"].to_list() == [None, None, None]


def _perturb(text: str, share: float, rng: random.Random) -> str:
    words = text.split()
    for i in rng.sample(range(len(words)), max(1, round(share * len(words)))):
        words[i] = rng.choice(["alpha", "beta", "gamma", "delta", "omega"])
    return " ".join(words)


def test_near_duplicates_catch_five_percent_word_edits(alpaca_frame):
    rng = random.Random(0)
    rows = alpaca_frame.filter(pl.col("messages").list.get(1).struct.field("content").str.len_chars() > 300).head(300)
    texts = [" ".join(m["content"] for m in msgs).lower() for msgs in rows["messages"].to_list()]
    copies = [_perturb(t, 0.05, rng) for t in texts]
    res = near_duplicates(texts + copies, DedupConfig())
    n = len(texts)
    found = sum(res.cluster[i] >= 0 and res.cluster[i] == res.cluster[n + i] for i in range(n))
    assert found / n >= 0.95
    # and distinct originals are not merged with each other
    merged = len(set(res.cluster[:n][res.cluster[:n] >= 0])) 
    assert merged >= found - 2


def test_word_shingles_and_short_texts():
    cfg = DedupConfig(shingle="word", ngram=3)
    res = near_duplicates(["the cat sat on the mat today", "the cat sat on the mat today", "hi", ""], cfg)
    assert res.cluster[0] == res.cluster[1] >= 0 and res.cluster[2] == -1 and res.cluster[3] == -1
