"""Content signals: refusals, placeholders, external references, echoes, junk and truncation."""

from __future__ import annotations

import polars as pl

from curate.scripts import words
from curate.text import fold_loose
from schemas.config import RulesConfig

from curate.signals.patterns import pattern, pattern_body

CONTENT_COLUMNS = {
    "refusal": "the response contains a refusal or AI boilerplate phrase (patterns/refusal.txt)",
    "placeholder_prompt": "the prompt holds an unfilled placeholder such as <noinput> or {{name}}",
    "placeholder_response": "the response holds an unfilled placeholder",
    "external_reference": "the prompt depends on a URL or attachment the model cannot see",
    "code_prompt": "the prompt asks for code, a regular expression, a formula or markup "
                   "(patterns/code_request.txt): its answer may be mostly symbols",
    "translation_prompt": "the prompt asks for a translation (patterns/translation.txt, several languages): "
                          "its response may be in another language",
    "echo_similarity": "1.0 when the response equals the prompt or starts by repeating it (case, width, punctuation and spacing ignored)",
    "junk_share": "share of response characters that are symbols: not letters, marks, digits, whitespace, "
                  "ordinary punctuation (. , ; : ! ? ' \" ( ) -), typographic dashes, quotes and bullets, nor CJK "
                  "and full-width punctuation (、。，「」（）…); counted outside fenced code, markdown table rows and HTML tags, as a share of the whole response",
    "truncated": "the response stops mid-thought: it ends on a comma (also ，、), a hyphen or a word a sentence cannot end "
                 "on (patterns/dangling.txt), inside an open code fence, or with a bracket opened on its last "
                 "line and never closed (responses of rules.truncation_min_words+ words)",
}

# Characters that count as junk: everything but letters, marks, digits, whitespace and punctuation that
# prose uses, in Latin (. , ; : ! ? ' " ( ) -, typographic dashes, quotes, bullets, ellipsis, middle dot)
# and CJK writing (U+3000-303F: 、。「」《》; U+FF00-FFEF: full-width ，（）！？：; katakana middle dot).
_JUNK = r"[^\p{L}\p{M}\p{N}\s.,;:!?'\"()\-\u2010-\u2027\u00b7\u3000-\u303f\uff00-\uffef\u30fb]"

# The last word of the text (letters and apostrophes), when it is followed only by spaces.
_LAST_WORD = r"([\p{L}']+)[ \t]*$"


def _truncated(resp: pl.Expr, min_words: int | None) -> pl.Expr:
    """Cut off mid-thought. A complete answer may end without a full stop (a number, an equation, a
    code block, a list item, a heading), so the cue is what cannot end a thought, not a missing '.'."""
    if min_words is None:
        return pl.lit(False)
    text = resp.str.strip_chars_end()
    fence_open = (text.str.count_matches("```") % 2) == 1
    last_line = text.str.extract(r"([^\n]*)$", 1)
    # a bracket opened on the last line and not closed after it: "... such as (for example"
    open_bracket = (last_line.str.count_matches(r"[(\[{]") > last_line.str.count_matches(r"[)\]}]")) & \
        ~last_line.str.contains(r"[:;]-?[(\[]")  # an emoticon is not a bracket
    # a comma on a prose line (not a sign-off like "Sincerely," nor a line of code), or a word split
    # by a hyphen at the very end
    prose_comma = text.str.ends_with(",") & (last_line.str.count_matches(r"\S+") >= 4) & \
        ~last_line.str.contains(r"[(){}\[\]=;\"<>]")
    # CJK prose ends on 。！？, a closing quote or a colon (a form, a list head); a comma is a cut
    cjk_cut = text.str.contains(r"[，、]$") & last_line.str.contains(r"\p{Han}")
    last_word = text.str.extract(_LAST_WORD, 1)
    dangling = prose_comma | cjk_cut | text.str.contains(r"\p{L}-$") | (
        last_word.str.contains(f"(?i)^(?:{pattern_body('dangling')})$") & (last_word != last_word.str.to_uppercase()))
    long_enough = words(resp) >= min_words
    return long_enough & (fence_open | open_bracket | dangling.fill_null(False))


def content_signals(rules: RulesConfig) -> list[pl.Expr]:
    resp = pl.col("response")
    non_empty = resp.str.strip_chars() != ""
    # junk characters are not counted inside fenced code, markdown table rows or HTML tags (symbol-dense
    # by design), and are a share of the whole response
    prose = (resp.str.replace_all(r"(?s)```.*?(?:```|$)", "")
             .str.replace_all(r"(?m)^[ \t]*\|[^\n]*[\p{L}\p{N}][^\n]*\|[ \t]*$", "")
             .str.replace_all(r"</?[A-Za-z][^<>\n]{0,200}>", ""))
    # A response that opens by restating the prompt and adds little echoes it. Punctuation does not
    # matter here (loose key): "Do X." answered with "Do X" is an echo, whatever its full stop.
    p, r = fold_loose(pl.col("prompt")), fold_loose(resp)
    starts_with_prompt = ((p.str.len_chars() >= rules.echo_min_prompt_chars) & r.str.starts_with(p)
                          & (r.str.len_chars() < rules.echo_max_growth * p.str.len_chars()))
    return [
        resp.str.contains(pattern("refusal")).alias("refusal"),
        pl.col("prompt").str.contains(pattern("placeholder")).alias("placeholder_prompt"),
        resp.str.contains(pattern("placeholder")).alias("placeholder_response"),
        pl.col("prompt").str.contains(pattern("external")).alias("external_reference"),
        pl.col("prompt").str.contains(pattern("translation")).alias("translation_prompt"),
        pl.col("prompt").str.contains(pattern("code_request")).alias("code_prompt"),
        pl.when(non_empty & (((r == p) & (p != "")) | starts_with_prompt))  # symbols alone fold to "": no echo
        .then(1.0).otherwise(0.0).alias("echo_similarity"),
        (prose.str.count_matches(_JUNK) / resp.str.len_chars().clip(lower_bound=1))
        .alias("junk_share"),
        (non_empty & _truncated(resp, rules.truncation_min_words)).alias("truncated"),
    ]
