"""What a parser reads: the user's text in Unicode NFKC, so what a Chinese (or Japanese) input method types parses.

NFKC folds full-width forms into their plain ones: `３` → `3`, `ＯＰＰ－２` → `OPP-2`, `stage：` → `stage:`,
`１２，５００．５０` → `12,500.50`, `（）／` → `()/`, `￥` → `¥`, the ideographic space → a space.

The normalisation point is the start of each parser, not the request: every function that *reads* typed text
(`parse_ref` and the subcommand word in bot/slack/commands.py, `resolve_stage`, `parse_when`, `parse_amount`,
`parse_close_date`) begins with `for_parsing(...)`. Text that people typed for people to read (a deal's name,
the customer, notes, a lost reason, a follow-up's task) is never normalised: it is stored and shown as typed,
since NFKC is lossy (`①` → `1`, `㈱` → `(株)`, half-width katakana widened). Normalising the whole request
would have changed those; normalising in each parser keeps one rule, in one function, wherever a parse starts.
"""

from __future__ import annotations

import unicodedata


def for_parsing(text: str) -> str:
    """The text as a parser reads it (NFKC)."""
    return unicodedata.normalize("NFKC", text)


def for_parsing_with_offsets(text: str) -> tuple[str, list[int]]:
    """NFKC character by character, and for each character of the result the index in `text` it came from
    (with `len(text)` appended), so that what is left after a parsed prefix can be given back as typed."""
    out: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(text):
        folded = unicodedata.normalize("NFKC", char)
        out.append(folded)
        offsets.extend([index] * len(folded))
    offsets.append(len(text))
    return "".join(out), offsets
