"""``report.html``: a self-contained page (inline CSS and PNG plots, no server, no scripts).

Counts per verdict and reason, histograms of the key signals, a few example rows per reason, and a
sample of duplicate clusters side by side. All row text is HTML-escaped.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

from pathlib import Path

import polars as pl

from curate.pipeline import CurateResult
from curate.rules import RULES

_WHY = {r.code: r.why for r in RULES}
_PLOTS = [("quality", "quality score", None), ("response_words", "response words", (0, 600)),
          ("readability", "Flesch reading ease", (-50, 120)), ("junk_share", "symbol share", (0, 1)),
          ("ifd", "IFD (model signals; >= 1: the prompt does not help)", (0, 1.5)),
          ("ppl_response", "response perplexity (model signals)", (0, 60)),
          ("semantic_similarity", "answer cosine of semantic duplicates", (0.9, 1))]
_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
.num{text-align:right}.keep{color:#176a2c}.review{color:#9a6700}.drop{color:#b3261e}
pre{white-space:pre-wrap;margin:0;max-height:14em;overflow:auto;font-size:12px}.grid{display:flex;flex-wrap:wrap;gap:8px}
.cluster{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:6px;border:1px solid #ddd;padding:6px;margin:6px 0}
img{border:1px solid #eee}"""


def _hist(values: pl.Series, title: str, bounds: tuple[float, float] | None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vals = values.drop_nulls().drop_nans() if values.dtype.is_float() else values.drop_nulls()
    fig, ax = plt.subplots(figsize=(4.2, 2.6), dpi=90)
    if len(vals):
        ax.hist(vals.cast(pl.Float64).to_numpy(), bins=40, range=bounds, color="#4a78b5")
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return f'<img alt="{escape(title)}" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _text(s: str | None, limit: int = 600) -> str:
    s = s or ""
    return f"<pre>{escape(s[:limit] + ('…' if len(s) > limit else ''))}</pre>"


def render_report(result: CurateResult, manifest: dict[str, Any], examples: int = 3, clusters: int = 5) -> str:
    f = result.frame.lazy()  # a streamed run's rows are read back a column or a few rows at a time
    names = f.collect_schema().names()
    c = manifest["counts"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Sieve curate report</title>"
             f"<style>{_CSS}</style></head><body><h1>Sieve curate report</h1>"]
    parts.append("<p>" + ", ".join(escape(i["path"]) + f" ({i['rows']:,} rows)" for i in manifest["inputs"]) + "</p>")
    parts.append("<h2>Verdicts</h2><table><tr><th>rows</th><th class=keep>keep</th><th class=review>review</th>"
                 f"<th class=drop>drop</th><th>quarantined</th></tr><tr><td class=num>{c['rows']:,}</td>"
                 f"<td class=num>{c['keep']:,}</td><td class=num>{c['review']:,}</td><td class=num>{c['drop']:,}</td>"
                 f"<td class=num>{c['quarantined']:,}</td></tr></table>")
    actions = result.config.actions
    parts.append("<h2>Reasons</h2><table><tr><th>code</th><th>action</th><th>rows</th><th>meaning</th></tr>")
    for code, n in manifest["reasons"].items():
        act = actions.get(code, "review")
        parts.append(f"<tr><td>{escape(code)}</td><td class={act}>{act}</td><td class=num>{n:,}</td>"
                     f"<td>{escape(_WHY.get(code, ''))}</td></tr>")
    parts.append("</table><h2>Signals</h2><div class=grid>")
    for col, title, b in _PLOTS:
        values = f.select(col).collect().to_series() if col in names else None
        if values is not None and values.null_count() < len(values):
            parts.append(_hist(values, title, b))
    parts.append("</div>")
    parts.append("<h3>Language mix per file</h3><table><tr><th>file</th><th>languages (share of rows)</th>"
                 "<th>expected</th></tr>" + "".join(
        f"<tr><td>{escape(Path(file).name)}</td><td>{escape(', '.join(f'{k} {v:.1%}' for k, v in mix.items()))}</td>"
        f"<td>{escape(', '.join(manifest['expected_languages'].get(file, [])))}</td></tr>"
        for file, mix in manifest["languages"].items()) + "</table>")
    parts.append("<h2>Stages</h2><table><tr><th>stage</th><th>rows</th><th>seconds</th><th>rows/s</th></tr>")
    for s in manifest["stages"]:
        parts.append(f"<tr><td>{escape(s['name'])}</td><td class=num>{s['rows']:,}</td>"
                     f"<td class=num>{s['seconds']:.2f}</td><td class=num>{(s['rows_per_s'] or 0):,.0f}</td></tr>")
    parts.append("</table><h2>Examples per reason</h2>")
    for code in manifest["reasons"]:
        rows = f.filter(pl.col("reasons").list.contains(code)).head(examples).collect()
        parts.append(f"<h3>{escape(code)}</h3><table><tr><th>source</th><th>prompt</th><th>response</th></tr>")
        for r in rows.iter_rows(named=True):
            parts.append(f"<tr><td>{escape(r['source_file'].rsplit('/', 1)[-1])}:{r['source_line']}</td>"
                         f"<td>{_text(r['prompt'], 300)}</td><td>{_text(r['response'])}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Duplicate clusters (sample)</h2>")
    dup = f.filter(pl.col("dup_cluster").is_not_null())
    first = dup.select(pl.col("dup_cluster").unique(maintain_order=True).head(clusters)).collect().to_series()
    shown = dup.filter(pl.col("dup_cluster").is_in(first.implode())).select(
        "dup_cluster", "row_idx", "verdict", "quality", "source_line", "prompt", "response").collect()
    for cid in first.to_list():
        members = shown.filter(pl.col("dup_cluster") == cid).sort("row_idx").head(4)
        parts.append(f"<h4>{escape(cid)}</h4><div class=cluster>")
        for r in members.iter_rows(named=True):
            parts.append(f"<div><b class={r['verdict']}>{r['verdict']}</b> q={r['quality']:.2f} "
                         f"line {r['source_line']}{_text(r['prompt'], 200)}{_text(r['response'], 300)}</div>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "".join(parts)
