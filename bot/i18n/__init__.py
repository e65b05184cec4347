"""Every user-facing string in the reader's language: the message catalogue, and numbers, money and dates the local way.

oppbot speaks English (`en`, the source language of the catalogue) and Simplified Chinese (`zh-CN`,
`locale/zh_CN/LC_MESSAGES/oppbot.po`, compiled to the `.mo` next to it: `make messages`). A reader's
language is their Slack locale (`users.info(include_locale=True)`, cached with the profile), else
the workspace's `[workspace] language`; a message to a channel (alerts, a team's digest) is in the
workspace's language.

Views take a `Translator` (conventionally `t`) and write every string through it:

    t("Won {ref}", ref=opp.ref)                         # gettext, then str.format
    t.plural("{n} deal", "{n} deals", count)            # ngettext: the language's plural rule; {n} is the number, localised
    t.money(total), t.amount(Decimal("12.5"), "CNY"), t.percent(0.62), t.date(day)

A message defined away from a translator (an error raised in a service, a constant) is marked with
`N_` and translated where it is shown: `Forbidden(N_("You are not on {team}."), team=name)` is shown with
`exc.text(t)`. `pybabel extract` finds all three forms (keywords `t`, `plural:1,2`, `N_`).
"""

from __future__ import annotations

import gettext
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_compact_currency, format_currency, format_decimal, format_percent

from bot.domain.languages import CHINESE, ENGLISH, LANGUAGES, language_of
from bot.domain.money import Money
from bot.domain.values import N_

__all__ = ["CHINESE", "ENGLISH", "LANGUAGES", "N_", "Translator", "is_language", "language_of", "translator"]

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "oppbot"


def is_language(code: str) -> bool:
    return code in LANGUAGES


class Translator:
    """The catalogue of one language, and Babel's formats of its locale."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else ENGLISH
        self.locale = Locale.parse(self.language, sep="-")
        if self.language == ENGLISH:
            self._catalogue: gettext.NullTranslations = gettext.NullTranslations()
        else:
            self._catalogue = gettext.translation(DOMAIN, LOCALE_DIR, languages=[self.language.replace("-", "_")])

    def __repr__(self) -> str:
        return f"Translator({self.language!r})"

    # ----- words ------------------------------------------------------------------------------------------

    def __call__(self, message: str, /, **values: object) -> str:
        text = self._catalogue.gettext(message)
        return text.format(**values) if values else text

    def plural(self, one: str, many: str, n: int, /, **values: object) -> str:
        """One sentence in the form the language uses for n ({n} is n, written the local way)."""
        return self._catalogue.ngettext(one, many, n).format(n=self.number(n), **values)

    def days(self, value: float | None) -> str:
        """An average or typical time, to a tenth of a day: "3.5 d" · "3.5 天"; "—" for none."""
        return "—" if value is None else self(N_("{days} d"), days=format_decimal(round(value, 1), format="0.0", locale=self.locale))

    # ----- numbers, money, dates ---------------------------------------------------------------------------

    def number(self, value: int | float | Decimal) -> str:
        return format_decimal(value, locale=self.locale)

    def percent(self, rate: float | None) -> str:
        return "—" if rate is None else format_percent(rate, locale=self.locale)

    def amount(self, amount: Decimal | None, currency: str) -> str:
        """English: the currency code and the amount, cents only when there are some ("CNY 1,234,567", "EUR 9,999.50");
        Chinese: the locale's symbol and two decimals ("¥1,234,567.00", "US$1,200.00", "€9,999.50")."""
        if amount is None:
            return "—"
        if self.language == ENGLISH:
            shown = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
            return f"{currency} {shown}"
        return format_currency(amount, currency, locale=self.locale)

    def compact_amount(self, amount: Decimal, currency: str) -> str:
        """Where space is short: ¥123.5万, $1.2M."""
        return format_compact_currency(amount, currency, locale=self.locale, fraction_digits=1)

    def money(self, money: Money) -> str:
        """A total across currencies: the workspace-currency amount, then each currency without a rate apart."""
        return " + ".join([self.amount(money.amount, money.base)] + [self.amount(amount, currency) for currency, amount in money.apart])

    def date(self, day: date) -> str:
        """A date where Slack's <!date> token can't be used (a date without a time: an expected close, the day a rate
        was set): English as it always was, ISO ("2026-12-03"); Chinese as a Chinese reader writes it ("2026年12月3日 周四")."""
        return day.isoformat() if self.language == ENGLISH else format_date(day, format="y年M月d日 EEE", locale=self.locale)

    def short_amount(self, amount: Decimal | None, currency: str) -> str:
        """An amount where space is short (a deal's line in a list): Chinese from 10,000 up in 万/亿 ("¥12万"); else `amount`."""
        if amount is None or self.language == ENGLISH or abs(amount) < 10_000:
            return self.amount(amount, currency)
        return format_compact_currency(amount, currency, locale=self.locale, fraction_digits=1).replace(".0万", "万").replace(".0亿", "亿")


@cache
def translator(language: str) -> Translator:
    return Translator(language)
