"""The rows of a curate run's ``annotated.parquet`` as the store's rows, in bounded chunks, built by
polars expressions over whole columns (a 1,000,000-row run imports in well under a minute; a Python loop
over dicts took most of that for JSON alone).

Two strings are built from the ``messages`` column without a Python object per message:
``messages`` as stored (``[{"role": ..., "content": ...}]``, read back with ``json.loads``) and the
canonical text whose SHA-256 is the row's content hash. That hash carries decisions from one run to
the next, and stores made before hold hashes of :func:`review_app.migrations.content_hash`, so the
canonical text is exactly what ``json.dumps(..., ensure_ascii=False, sort_keys=True)`` writes: the
same escapes (:data:`ESCAPES`) and separators. The tests compare the two on real and hostile text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from review_app.languages import conversation_text, script_mask
from review_app.migrations import relative_path, source_root
from review_app.signals import STORED, signal_struct

# 50,000 rows of Alpaca size are ~100 MB of frame and tuples: memory stays flat however long the run is,
# and each executemany is long enough that the per-chunk overhead is lost in the noise.
CHUNK = 50_000
COLUMNS = ("id", "run", "row_idx", "verdict", "reasons", "quality", "lang", "dup_cluster", "format", "source",
           "messages", "metadata", "prompt", "double_review", "content_hash", "signals", "scripts")
# What json.dumps(ensure_ascii=False) escapes in a string: backslash, quote, and every control character
# below U+0020 (the usual five by name, the rest as \u00XX). Nothing else (U+007F and beyond stay as is).
_NAMED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
ESCAPES = {**{chr(i): f"\\u{i:04x}" for i in range(0x20)}, **_NAMED}


def _json_string(s):
    """A polars expression: the string expression ``s`` as a JSON value, as Python's json writes it."""
    import polars as pl

    quoted = pl.concat_str([pl.lit('"'), s.str.replace_many(list(ESCAPES), list(ESCAPES.values())), pl.lit('"')])
    return pl.when(s.is_null()).then(pl.lit("null")).otherwise(quoted)


def messages_json(messages, keys: tuple[str, str]):
    """A polars expression: a ``messages`` list column as a JSON list of objects with ``keys`` in this
    order, with json.dumps' separators (``", "`` and ``": "``)."""
    import polars as pl

    e = pl.element().struct
    obj = pl.concat_str([pl.lit(f'{{"{keys[0]}": '), _json_string(e.field(keys[0])), pl.lit(f', "{keys[1]}": '),
                         _json_string(e.field(keys[1])), pl.lit("}")])
    return pl.concat_str([pl.lit("["), messages.list.eval(obj).list.join(", "), pl.lit("]")])


def _sha256(texts):
    import polars as pl

    return pl.Series([hashlib.sha256(t.encode()).hexdigest() for t in texts], dtype=pl.String)


def store_columns(run: Path, files: dict[str, str], present: list[str], share: float) -> list:
    """The polars expressions, in :data:`COLUMNS` order, that turn an annotated frame into store rows.
    ``files`` maps each source file to its path as shown; ``present`` are the frame's columns."""
    import polars as pl

    msgs = pl.col("messages").list.eval(pl.struct(role=pl.element().struct.field("role"),
                                                  content=pl.element().struct.field("content")))
    return [
        pl.col("id"), pl.lit(str(run)).alias("run"), pl.col("row_idx"), pl.col("verdict"),
        pl.col("reasons").list.join("\x1f").fill_null("").alias("reasons"), pl.col("quality"),
        pl.col("lang_response").alias("lang"), pl.col("dup_cluster"), pl.col("format"),
        pl.concat_str([pl.col("source_file").replace_strict(files, return_dtype=pl.String), pl.lit(":"),
                       pl.col("source_line").cast(pl.String)]).alias("source"),
        messages_json(msgs, ("role", "content")).alias("messages"), pl.col("metadata"), pl.col("prompt"),
        (pl.col("id").hash(seed=3) % 10_000 < int(share * 10_000)).cast(pl.Int64).alias("double_review"),
        messages_json(msgs, ("content", "role")).map_batches(_sha256, return_dtype=pl.String).alias("content_hash"),
        signal_struct(present).alias("signals"),
        script_mask(conversation_text(pl.col("messages"))).alias("scripts"),
    ]


def shown_files(path: Path, man: dict) -> dict[str, str]:
    """Each source file of the run, as a row's title shows it: relative to the inputs' common folder,
    so no absolute path of the machine reaches the screen (:func:`review_app.migrations.relative_source`)."""
    import polars as pl

    files = pl.scan_parquet(path).select(pl.col("source_file").unique()).collect()["source_file"].to_list()
    root = source_root([i.get("path", "") for i in man.get("inputs", [])] or files)
    return {f: relative_path(f, root) if f else f for f in files}


def count_rows(run: Path) -> int:
    import polars as pl

    return pl.scan_parquet(run / "annotated.parquet").select(pl.len()).collect().item()


def store_rows(run: Path, man: dict, share: float, chunk: int = CHUNK, skip: list[str] | None = None
               ) -> Iterator[list[tuple]]:
    """The run's rows as tuples of :data:`COLUMNS`, at most ``chunk`` rows at a time, in the file's order,
    leaving out the ids in ``skip`` (rows the store holds whole: a re-import builds only what it adds).

    The next chunk is built in a thread while the caller writes this one: polars and SQLite both let
    go of Python's lock while they work, so on two cores building and inserting overlap."""
    import polars as pl

    path = run / "annotated.parquet"
    schema = pl.read_parquet_schema(path)
    present = [c for c in STORED if c in schema]
    exprs = store_columns(run, shown_files(path, man), present, share)
    n = count_rows(run)
    known = pl.Series(skip or [], dtype=pl.String)

    def build(start: int) -> list[tuple]:
        part = pl.scan_parquet(path).slice(start, chunk)
        if len(known):
            part = part.filter(~pl.col("id").is_in(known.implode()))
        return part.select(exprs).collect().rows()

    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = pool.submit(build, 0) if n else None
        for start in range(0, n, chunk):
            rows = ahead.result()
            ahead = pool.submit(build, start + chunk) if start + chunk < n else None
            if rows:
                yield rows
