"""Numbers in words: the one place a count meets its noun in what people read.

Each helper builds a whole phrase from its arguments (never a noun glued to a suffix), so that
when the strings move into a gettext catalogue `count` becomes `ngettext(one, many, n)` and each
language gets its own plural forms.
"""

from __future__ import annotations


def plural(n: int, one: str, many: str) -> str:
    """A whole sentence in its singular or plural form, `{n}` filled in (ngettext's shape):
    plural(n, "{n} deal is counted", "{n} deals are counted")."""
    return (one if n == 1 else many).format(n=f"{n:,}")


def count(n: int, one: str, many: str, *, zero: str | None = None) -> str:
    """ "1 deal", "2 deals", "0 deals" (or `zero`, e.g. "no open deals", when given and n is 0)."""
    if n == 0 and zero is not None:
        return zero
    return f"{n:,} {one if n == 1 else many}"


def days(value: float) -> str:
    """A length of time in whole days as people say it: "under a day", "1 day", "12 days"."""
    if value < 1:
        return "under a day"
    return count(int(value + 0.5), "day", "days")  # half up: 1.5 days reads "2 days"
