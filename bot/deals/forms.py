"""Validating the New opportunity and Lost modals. Pure: values in, a draft or errors per field out."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from bot.domain.normalize import for_parsing
from bot.domain.values import N_, TAG_CHOICES, OppError, OpportunityDraft, Pipeline, parse_id

NAME_MAX = 150


CUSTOMER_MAX = 150


SOURCE_MAX = 100


NEXT_STEP_MAX = 500


NOTES_MAX = 3000


class FieldError(OppError, ValueError):
    """What is wrong with one field, in the reader's language with `text(t)` (str(): the English)."""


def notes_from_message(text: str, link: str | None, *, t: Callable[..., str]) -> str | None:
    """The notes a deal made from a Slack message starts with: the message (clipped to fit) and where it came from."""
    suffix = "\n\n" + t("From {link}", link=link) if link else ""
    text = text.strip()
    room = NOTES_MAX - len(suffix)
    notes = (text if len(text) <= room else text[: room - 1] + "…") + suffix
    return notes.strip() or None


LOST_REASON_MAX = 500


AMOUNT_MAX = Decimal(10) ** 12


CURRENCIES = ("USD", "EUR", "GBP", "CNY", "JPY", "HKD", "SGD", "AUD", "CAD", "CHF", "INR", "KRW", "BRL", "MXN", "SEK", "NOK", "DKK", "PLN", "ZAR", "AED")


# a Slack user id, as long as the columns that hold one allow at most
_USER = re.compile(r"^[UW][A-Z0-9]{2,31}$")


@dataclass(frozen=True)
class FormChoices:
    """What the workspace allows in the select fields."""

    stages: Pipeline  # the pipeline whose stages the form offers
    currencies: tuple[str, ...]
    industries: tuple[str, ...]
    regions: tuple[str, ...]
    company_sizes: tuple[str, ...]
    # the workspace's active pipelines when it has more than one (the form then asks which); () otherwise
    pipelines: tuple[Pipeline, ...] = ()


STAGE_BLOCK = "stage"


def stage_block_id(pipeline: Pipeline, *, several: bool) -> str:
    """The Stage input's block id: with several pipelines it names the pipeline, so that Slack forgets the stage
    picked when the form is redrawn for another pipeline (it keeps a block's value while its block id stays)."""
    return f"{STAGE_BLOCK}:{pipeline.id}" if several else STAGE_BLOCK


def stage_key(values: Mapping[str, object]) -> str:
    """The block id the submitted form's stage is under (`stage`, or `stage:<pipeline id>`)."""
    return next((key for key in values if key == STAGE_BLOCK or key.startswith(STAGE_BLOCK + ":")), STAGE_BLOCK)


def chosen_pipeline(values: Mapping[str, object], pipelines: Sequence[Pipeline]) -> Pipeline | None:
    """The pipeline picked in a form's Pipeline select, when it is one of `pipelines`."""
    picked = parse_id(values.get("pipeline"))
    return next((p for p in pipelines if p.id == picked), None)


def currencies_for(default: str) -> tuple[str, ...]:
    return (default,) + tuple(c for c in CURRENCIES if c != default)


# Units an amount may carry, after NFKC and case-folding: `12k`, `1.2m`, `12万`, `3亿`.
AMOUNT_UNITS = {"k": 10**3, "千": 10**3, "万": 10**4, "m": 10**6, "百万": 10**6, "千万": 10**7, "亿": 10**8, "万亿": 10**12}
# Signs and words naming a currency, and the currencies each can mean (¥ is the yuan's and the yen's).
# `$` is left out on purpose: it names a dozen currencies, so it tells nothing the currency select doesn't.
CURRENCY_SIGNS: dict[str, tuple[str, ...]] = {
    "¥": ("CNY", "JPY"), "元": ("CNY",), "人民币": ("CNY",), "块": ("CNY",), "rmb": ("CNY",), "€": ("EUR",), "£": ("GBP",),
    "美元": ("USD",), "美金": ("USD",), "欧元": ("EUR",), "英镑": ("GBP",), "日元": ("JPY",), "港元": ("HKD",), "港币": ("HKD",),
    **{code.lower(): (code,) for code in CURRENCIES},
}
_SIGNS = tuple(sorted(CURRENCY_SIGNS, key=len, reverse=True))  # longest first: 人民币 before 元
_AMOUNT = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(" + "|".join(sorted(AMOUNT_UNITS, key=len, reverse=True)) + ")?")
NOT_A_NUMBER = N_("Amount must be a number, like 12500 or 12,500.00.")
NOT_A_NUMBER_WITH_UNITS = N_("Amount must be a number, like 12500, 12,500.00, 12万, 1.5万 or ¥12,000.")


def parse_money(raw: str) -> tuple[Decimal, tuple[str, ...]]:
    """An amount as typed, with the currencies a sign or code in it names (empty: none named).

    `12500`, `12,500.50`, `12 500`, `１２，５００` (NFKC), `12万` (= 120000), `1.5万`, `3亿`, `12k`, `1.2m`,
    `¥12,000`, `RMB 12000`, `CNY12000`, `12,000元`, `12万美元`. Raises ValueError with a message for the user.
    """
    text = for_parsing(raw).strip().casefold().replace(",", "").replace(" ", "").replace("_", "")
    sign = ""
    if text[:1] in ("+", "-"):
        sign, text = text[0], text[1:]
    named: tuple[str, ...] = ()
    for word in _SIGNS:
        if text.startswith(word):
            named, text = CURRENCY_SIGNS[word], text[len(word):]
            break
    for word in _SIGNS:
        if text.endswith(word) and len(text) > len(word):
            both = tuple(c for c in CURRENCY_SIGNS[word] if not named or c in named)
            if not both:
                raise FieldError(N_("The amount names two currencies, {first} and {second}; write one."), first=named[0],
                                 second=CURRENCY_SIGNS[word][0])
            named, text = both, text[: -len(word)]
            break
    match = _AMOUNT.fullmatch(sign + text)
    if not match:
        raise FieldError(NOT_A_NUMBER if raw.isascii() and not named else NOT_A_NUMBER_WITH_UNITS)
    try:
        value = Decimal(match.group(1)) * AMOUNT_UNITS.get(match.group(2) or "", 1)
    except InvalidOperation:
        raise FieldError(NOT_A_NUMBER) from None
    if value < 0:
        raise FieldError(N_("Amount can't be negative."))
    if value > AMOUNT_MAX:
        raise FieldError(N_("Amount is too large: at most 1,000,000,000,000."))
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and value != value.quantize(Decimal("0.01")):
        raise FieldError(N_("Amount can have at most 2 decimals."))
    return (abs(value).quantize(Decimal("0.01")) if value == 0 else value.quantize(Decimal("0.01"))), named


def parse_amount(raw: str) -> Decimal:
    """`12500`, `12,500.50`, `12 500`, `12万`, `¥12,000` -> Decimal (the currency named, if any, is `parse_money`'s)."""
    return parse_money(raw)[0]


def parse_close_date(raw: str) -> date:
    try:
        value = date.fromisoformat(for_parsing(raw).strip())
    except ValueError:
        raise FieldError(N_("Expected close date must be a date like 2026-12-31.")) from None
    if not 2000 <= value.year <= 2100:
        raise FieldError(N_("Expected close date must be between the years 2000 and 2100."))
    return value


def _text(values: Mapping[str, object], key: str) -> str:
    value = values.get(key)
    return value.strip() if isinstance(value, str) else ""


def validate_new_opportunity(values: Mapping[str, object], choices: FormChoices, default_owner: str, *,
                             t: Callable[..., str]) -> tuple[OpportunityDraft | None, dict[str, str]]:
    """Check every field of the "New opportunity" modal; errors are keyed by the modal's block ids, in the reader's words."""
    errors: dict[str, str] = {}

    name = _text(values, "name")
    if not name:
        errors["name"] = t("Give the opportunity a name.")
    elif len(name) > NAME_MAX:
        errors["name"] = t("Name is too long: {length} characters, at most {max}.", length=len(name), max=NAME_MAX)

    customer = _text(values, "customer")
    if not customer:
        errors["customer"] = t("Name the customer or account.")
    elif len(customer) > CUSTOMER_MAX:
        errors["customer"] = t("Customer is too long: {length} characters, at most {max}.", length=len(customer), max=CUSTOMER_MAX)

    amount: Decimal | None = None
    named: tuple[str, ...] = ()  # the currencies the amount itself names (`¥12,000`, `12,000元`)
    if raw_amount := _text(values, "amount"):
        try:
            amount, named = parse_money(raw_amount)
        except FieldError as exc:
            errors["amount"] = exc.text(t)

    currency = _text(values, "currency") or choices.currencies[0]
    if currency not in choices.currencies:
        errors["currency"] = t("Unknown currency {currency}; pick one from the list.", currency=repr(currency[:10]))
    elif named and currency not in named:
        errors["amount"] = t("The amount says {named} but the currency is {currency}.", named=named[0], currency=currency)

    close_date = None
    if raw_date := _text(values, "close_date"):
        try:
            close_date = parse_close_date(raw_date)
        except FieldError as exc:
            errors["close_date"] = exc.text(t)

    pipeline = choices.stages
    if choices.pipelines:
        picked_pipeline = chosen_pipeline(values, choices.pipelines)
        if picked_pipeline is None:
            errors["pipeline"] = t("Pick one of the pipelines in the list.")
        else:
            pipeline = picked_pipeline
    stage_id = pipeline.first.id
    key = stage_key(values)
    if raw_stage := _text(values, key):
        picked_stage = parse_id(raw_stage)
        if picked_stage is not None and pipeline.index_of(picked_stage) is not None:
            stage_id = picked_stage
        elif choices.pipelines:
            errors[key] = t("Pick one of the {pipeline} pipeline's stages.", pipeline=pipeline.name)
        else:
            errors[key] = t("Pick one of the workspace's stages.")

    # No owner picked: the submitter holds the deal while the team's manager assigns it.
    needs_owner = not _text(values, "owner") and "owner" in values
    owner = _text(values, "owner") or default_owner
    if not _USER.match(owner):
        errors["owner"] = t("Pick the owner from the list of people.")

    picked: dict[str, str | None] = {}
    for key, allowed in (("industry", choices.industries), ("region", choices.regions), ("company_size", choices.company_sizes)):
        value = _text(values, key) or None
        if value is not None and value not in allowed:
            errors[key] = t("Pick one of the values in the list.")
        picked[key] = value
    for key, allowed_tags in TAG_CHOICES.items():
        value = _text(values, key) or None
        if value is not None and value not in allowed_tags:
            errors[key] = t("Pick one of the values in the list.")
        picked[key] = value

    source = _text(values, "source") or None
    if source and len(source) > SOURCE_MAX:
        errors["source"] = t("Source is too long: at most {max} characters.", max=SOURCE_MAX)
    next_step = _text(values, "next_step") or None
    if next_step and len(next_step) > NEXT_STEP_MAX:
        errors["next_step"] = t("Next step is too long: {length} characters, at most {max}.", length=len(next_step), max=NEXT_STEP_MAX)
    notes = _text(values, "notes") or None
    if notes and len(notes) > NOTES_MAX:
        errors["notes"] = t("Notes are too long: {length} characters, at most {max} (Slack's limit).", length=len(notes), max=NOTES_MAX)

    if errors:
        return None, errors
    return OpportunityDraft(
        name=name, customer=customer, owner_id=owner, stage_id=stage_id, currency=currency, amount=amount,
        close_date=close_date, source=source, next_step=next_step, notes=notes, needs_owner=needs_owner, **picked,
    ), {}


def validate_pipeline_move(values: Mapping[str, object], pipelines: Sequence[Pipeline], *,
                           t: Callable[..., str]) -> tuple[tuple[Pipeline, int] | None, dict[str, str]]:
    """The Move to another pipeline modal: (the pipeline, a stage of it), or errors keyed by its block ids."""
    pipeline = chosen_pipeline(values, pipelines)
    if pipeline is None:
        return None, {"pipeline": t("Pick one of the pipelines in the list.")}
    key = stage_key(values)
    stage_id = parse_id(values.get(key))
    if stage_id is None or pipeline.index_of(stage_id) is None:
        return None, {key: t("Pick one of the {pipeline} pipeline's stages.", pipeline=pipeline.name)}
    return (pipeline, stage_id), {}


def validate_lost_reason(raw: object, *, t: Callable[..., str]) -> tuple[str | None, str | None]:
    reason = raw.strip() if isinstance(raw, str) else ""
    if not reason:
        return None, t("Say why the deal was lost: it feeds the win/loss analysis.")
    if len(reason) > LOST_REASON_MAX:
        return None, t("Reason is too long: {length} characters, at most {max}.", length=len(reason), max=LOST_REASON_MAX)
    return reason, None
