"""Block Kit primitives and Slack's limits: pure functions from plain values to Slack JSON."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from bot.domain.languages import ENGLISH
from bot.domain.money import Money, Rates
from bot.i18n import Translator, translator

MESSAGE_BLOCKS = 50


VIEW_BLOCKS = 100


SECTION_TEXT = 3000


FIELD_TEXT = 2000


HEADER_TEXT = 150


BUTTON_TEXT = 75


OPTION_TEXT = 75


OPTION_VALUE = 150


MAX_OPTIONS = 100


VIEW_TITLE = 24


def escape(text: str) -> str:
    """User text in mrkdwn: Slack needs &, < and > escaped, or a name could mention @channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str, limit: int | None = None) -> dict:
    return {"type": "plain_text", "text": clip(text, limit) if limit else text, "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT) -> dict:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def option(text: str, value: str) -> dict:
    return {"text": plain(text, OPTION_TEXT), "value": value[:OPTION_VALUE]}


def format_amount(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return "—"
    shown = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    return f"{currency} {shown}"


def format_money(money: Money) -> str:
    """A total across currencies: the workspace-currency amount, then each currency without a rate as its
    own subtotal ("CNY 125,000 + EUR 9,999"), never added in as if it were the workspace's currency."""
    return " + ".join([format_amount(money.amount, money.base)] + [format_amount(amount, currency) for currency, amount in money.apart])


def rates_note(rates: Rates, totals: Iterable[Money], t: Translator | None = None) -> str:
    """Said once under figures whose totals involve other currencies ("" when none do): the rate each
    was converted at and when it was set, and which currencies have no rate and are shown apart."""
    t = t or translator(ENGLISH)
    involved = sorted({c for money in totals for c in money.currencies})
    if not involved:
        return ""
    converted = [t("{currency} at {rate}, set {day}", currency=rate.currency, rate=f"{rate.rate.normalize():f}", day=t.date(rate.set_on))
                 for c in involved if (rate := rates.rate_for(c)) is not None]
    apart = [c for c in involved if rates.rate_for(c) is None]
    parts = []
    if converted:
        parts.append(t("Amounts in {base}, converted: {rates}.", base=rates.base, rates=t(", ").join(converted)))
    if apart:
        parts.append(t.plural("{currencies} has no exchange rate (`/opp config`), so it is shown apart.",
                              "{currencies} have no exchange rate (`/opp config`), so they are shown apart.", len(apart),
                              currencies=t(", ").join(apart)))
    return " ".join(parts)


def slack_date(moment: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """Rendered by Slack in the reader's own time zone, with a UTC fallback."""
    return f"<!date^{int(moment.timestamp())}^{fmt}|{moment:%Y-%m-%d %H:%M} UTC>"


def days_between(start: datetime, now: datetime) -> int:
    return max(0, (now - start).days)


def _input(block_id: str, label: str, element: dict, *, optional: bool = False, hint: str | None = None) -> dict:
    block = {"type": "input", "block_id": block_id, "label": plain(label), "element": element, "optional": optional}
    if hint:
        block["hint"] = plain(hint)
    return block


def _text_input(action_id: str, *, max_length: int, initial: str | None = None, multiline: bool = False, placeholder: str | None = None) -> dict:
    element: dict = {"type": "plain_text_input", "action_id": action_id, "max_length": max_length, "multiline": multiline}
    if initial:
        element["initial_value"] = initial[:max_length]
    if placeholder:
        element["placeholder"] = plain(placeholder)
    return element


def _select(action_id: str, choices: Sequence[tuple[str, str]], *, initial: str | None = None, placeholder: str = "Choose…") -> dict:
    options = [option(label, value) for label, value in choices[:MAX_OPTIONS]]
    element: dict = {"type": "static_select", "action_id": action_id, "placeholder": plain(placeholder), "options": options}
    for opt in options:
        if opt["value"] == initial:
            element["initial_option"] = opt
    return element


def _radio(action_id: str, labels: dict[str, str]) -> dict:
    return {"type": "radio_buttons", "action_id": action_id, "options": [option(text, value) for value, text in labels.items()]}


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} d"


def _more(total: int, shown: int) -> str:
    return f"\n…and {total - shown} more" if total > shown else ""


def blocks_as_text(message: Sequence[dict]) -> str:
    """Blocks as plain terminal text (for previews): headers, sections, fields and context, in order."""
    import re as _re

    def unslack(text: str) -> str:
        text = _re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text)
        text = _re.sub(r"<!subteam\^([A-Z0-9]+)>", r"@\1", text)
        text = _re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("*", "")

    lines: list[str] = []
    for block in message:
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            lines += [title, "=" * len(title)]
        elif kind == "section":
            if "text" in block:
                lines.append(unslack(block["text"]["text"]))
            for item in block.get("fields", []):
                lines.append("  " + unslack(item["text"]).replace("\n", ": ", 1))
        elif kind == "context":
            lines.append(" ".join(unslack(e.get("text", "")) for e in block["elements"]))
        elif kind == "divider":
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
