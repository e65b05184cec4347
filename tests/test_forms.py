"""Unit tests for bot/deals/forms.py: validation of the New opportunity modal and the lost reason."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.deals.forms import (
    CURRENCIES,
    NOTES_MAX,
    FormChoices,
    currencies_for,
    notes_from_message,
    parse_amount,
    parse_close_date,
    validate_lost_reason,
    validate_new_opportunity,
)
from bot.deals.views import EN
from bot.domain.values import OpportunityDraft, Pipeline, StageInfo

# Stage ids deliberately differ from positions, so "id" and "number" can't be confused.
STAGES = Pipeline((
    StageInfo(id=11, position=1, name="Prospect", probability=10, max_days=14),
    StageInfo(id=12, position=2, name="Solution design", probability=30, max_days=21, alert_channel="#solutions"),
    StageInfo(id=13, position=3, name="Technical evaluation", probability=50, max_days=30),
    StageInfo(id=14, position=4, name="Negotiation", probability=80, max_days=21),
), retired=(StageInfo(id=9, position=0, name="Old stage", probability=5, max_days=10),))

CHOICES = FormChoices(
    stages=STAGES,
    currencies=currencies_for("EUR"),
    industries=("Healthcare", "Finance", "Technology"),
    regions=("North", "East"),
    company_sizes=("1-50", "51-500"),
)

SUBMITTER = "U0REP1"

FULL = {
    "name": "  Acme — 200 seats  ",
    "customer": "Acme Corp",
    "amount": "12,500.5",
    "currency": "USD",
    "close_date": "2026-12-31",
    "stage": "13",
    "owner": "U0REP2",
    "industry": "Finance",
    "region": "East",
    "company_size": "51-500",
    "source": "referral",
    "found": "unexpected",
    "reach": "strategic",
    "visibility": "latent",
    "change_kind": "time_bound",
    "next_step": "Call the CFO",
    "notes": "Budget approved for Q1.",
}


def minimal(**extra: object) -> dict:
    return {"name": "Deal", "customer": "Acme", **extra}


def errors_of(values: dict) -> dict[str, str]:
    draft, errors = validate_new_opportunity(values, CHOICES, SUBMITTER, t=EN)
    assert draft is None, "a submission with errors must not produce a draft"
    return errors


# --------------------------------------------------------------------------- happy path


def test_valid_full_submission():
    draft, errors = validate_new_opportunity(FULL, CHOICES, SUBMITTER, t=EN)
    assert errors == {}
    assert draft == OpportunityDraft(
        name="Acme — 200 seats",
        customer="Acme Corp",
        owner_id="U0REP2",
        stage_id=13,
        currency="USD",
        amount=Decimal("12500.50"),
        close_date=date(2026, 12, 31),
        industry="Finance",
        region="East",
        company_size="51-500",
        source="referral",
        found="unexpected",
        reach="strategic",
        visibility="latent",
        change_kind="time_bound",
        next_step="Call the CFO",
        notes="Budget approved for Q1.",
    )
    # quantized to cents, not just numerically equal
    assert str(draft.amount) == "12500.50"
    assert draft.amount.as_tuple().exponent == -2


def test_defaults_owner_currency_stage():
    draft, errors = validate_new_opportunity(minimal(), CHOICES, SUBMITTER, t=EN)
    assert errors == {}
    assert draft is not None
    assert draft.owner_id == SUBMITTER
    assert draft.currency == "EUR"  # the first of the workspace's currencies
    assert draft.stage_id == 11  # the first stage's id
    assert draft.amount is None and draft.close_date is None
    assert (draft.industry, draft.region, draft.company_size) == (None, None, None)
    assert (draft.found, draft.reach, draft.visibility, draft.change_kind) == (None, None, None, None)
    assert (draft.source, draft.next_step, draft.notes) == (None, None, None)


def test_blank_optional_fields_are_none():
    values = minimal(amount="  ", close_date=" ", stage="", owner="", industry=" ", source="  ", notes="\n\n", found="")
    draft, errors = validate_new_opportunity(values, CHOICES, SUBMITTER, t=EN)
    assert errors == {}
    assert draft is not None
    assert draft.amount is None and draft.close_date is None and draft.industry is None
    assert draft.source is None and draft.notes is None and draft.found is None
    assert draft.owner_id == SUBMITTER and draft.stage_id == 11


def test_non_string_values_are_treated_as_missing():
    draft, errors = validate_new_opportunity({"name": "Deal", "customer": "Acme", "amount": None, "stage": 12}, CHOICES, SUBMITTER, t=EN)
    assert errors == {}
    assert draft is not None and draft.amount is None and draft.stage_id == 11


def test_limits_are_inclusive():
    values = minimal(name="n" * 150, customer="c" * 150, source="s" * 100, next_step="x" * 500, notes="y" * 3000)
    draft, errors = validate_new_opportunity(values, CHOICES, SUBMITTER, t=EN)
    assert errors == {}
    assert draft is not None and len(draft.notes or "") == 3000


# --------------------------------------------------------------------------- per-field errors


@pytest.mark.parametrize("value, message", [
    ("", "Give the opportunity a name."),
    ("   \t ", "Give the opportunity a name."),
    ("n" * 151, "Name is too long: 151 characters, at most 150."),
])
def test_name_errors(value, message):
    errors = errors_of(minimal(name=value))
    assert errors == {"name": message}


@pytest.mark.parametrize("value, message", [
    ("", "Name the customer or account."),
    ("  ", "Name the customer or account."),
    ("c" * 151, "Customer is too long: 151 characters, at most 150."),
])
def test_customer_errors(value, message):
    errors = errors_of(minimal(customer=value))
    assert errors == {"customer": message}


NOT_A_NUMBER = "Amount must be a number, like 12500 or 12,500.00."


@pytest.mark.parametrize("value, message", [
    ("abc", NOT_A_NUMBER),
    ("1e5", NOT_A_NUMBER),
    ("NaN", NOT_A_NUMBER),
    ("inf", NOT_A_NUMBER),
    ("-inf", NOT_A_NUMBER),
    ("12.5.0", NOT_A_NUMBER),
    ("$100", NOT_A_NUMBER),
    ("-5", "Amount can't be negative."),
    ("-0.01", "Amount can't be negative."),
    ("1000000000000.01", "Amount is too large: at most 1,000,000,000,000."),
    ("12.345", "Amount can have at most 2 decimals."),
])
def test_amount_errors(value, message):
    errors = errors_of(minimal(amount=value))
    assert errors == {"amount": message}
    with pytest.raises(ValueError) as info:
        parse_amount(value)
    assert str(info.value) == message


@pytest.mark.parametrize("raw, expected", [
    ("12,500.50", "12500.50"),
    ("12 500", "12500.00"),
    ("12500", "12500.00"),
    (" 0.5 ", "0.50"),
    (".5", "0.50"),
    ("12.340", "12.34"),
    ("1000000000000", "1000000000000.00"),
    ("0", "0.00"),
])
def test_amounts_accepted(raw, expected):
    value = parse_amount(raw)
    assert isinstance(value, Decimal)
    assert str(value) == expected


def test_negative_zero_amount_is_plain_zero():
    value = parse_amount("-0")
    assert not value.is_signed()
    assert str(value) == "0.00"


@pytest.mark.parametrize("value, message", [
    ("2026-13-01", "Expected close date must be a date like 2026-12-31."),
    ("tomorrow", "Expected close date must be a date like 2026-12-31."),
    ("31/12/2026", "Expected close date must be a date like 2026-12-31."),
    ("1900-01-01", "Expected close date must be between the years 2000 and 2100."),
    ("2101-01-01", "Expected close date must be between the years 2000 and 2100."),
])
def test_close_date_errors(value, message):
    errors = errors_of(minimal(close_date=value))
    assert errors == {"close_date": message}
    with pytest.raises(ValueError) as info:
        parse_close_date(value)
    assert str(info.value) == message


def test_close_date_accepted():
    assert parse_close_date(" 2026-12-31 ") == date(2026, 12, 31)
    assert parse_close_date("2000-01-01") == date(2000, 1, 1)
    assert parse_close_date("2100-12-31") == date(2100, 12, 31)


@pytest.mark.parametrize("value", ["99", "9", "0", "-11", "abc", "11a", "1.5", "Prospect"])
def test_stage_not_in_the_model_or_not_digits(value):
    # "9" is a *retired* stage: new opportunities can't start there.
    errors = errors_of(minimal(stage=value))
    assert errors == {"stage": "Pick one of the workspace's stages."}


def test_stage_superscript_digit_is_a_field_error():
    errors = errors_of(minimal(stage="²"))
    assert errors == {"stage": "Pick one of the workspace's stages."}


@pytest.mark.parametrize("value", ["bob", "<@U0REP2>", "u0rep2", "C0CHANNEL", "U0"])
def test_owner_must_be_a_user_id(value):
    errors = errors_of(minimal(owner=value))
    assert errors == {"owner": "Pick the owner from the list of people."}


def test_invalid_default_owner_is_refused():
    draft, errors = validate_new_opportunity(minimal(), CHOICES, "not-a-user", t=EN)
    assert draft is None
    assert errors == {"owner": "Pick the owner from the list of people."}


def test_currency_not_in_the_list():
    errors = errors_of(minimal(currency="XYZ"))
    assert errors == {"currency": "Unknown currency 'XYZ'; pick one from the list."}


@pytest.mark.parametrize("key, value", [
    ("industry", "Mining"),
    ("industry", "finance"),  # case matters: the value must be one of the list's
    ("region", "Moon"),
    ("company_size", "10000+"),
])
def test_segment_values_must_be_in_the_lists(key, value):
    errors = errors_of(minimal(**{key: value}))
    assert errors == {key: "Pick one of the values in the list."}


@pytest.mark.parametrize("key, value", [
    ("found", "accidental"),
    ("reach", "global"),
    ("visibility", "hidden"),
    ("change_kind", "Time-bound"),  # the label, not the value
])
def test_tag_values_must_be_allowed(key, value):
    errors = errors_of(minimal(**{key: value}))
    assert errors == {key: "Pick one of the values in the list."}


@pytest.mark.parametrize("key, value, message", [
    ("source", "s" * 101, "Source is too long: at most 100 characters."),
    ("next_step", "x" * 501, "Next step is too long: 501 characters, at most 500."),
    ("notes", "y" * 3001, "Notes are too long: 3001 characters, at most 3000 (Slack's limit)."),
])
def test_text_limits(key, value, message):
    errors = errors_of(minimal(**{key: value}))
    assert errors == {key: message}


def test_several_errors_at_once():
    values = dict(FULL, name=" ", amount="abc", close_date="tomorrow", stage="99", owner="bob",
                  region="Moon", reach="global", notes="y" * 3001)
    errors = errors_of(values)
    assert set(errors) == {"name", "amount", "close_date", "stage", "owner", "region", "reach", "notes"}
    assert errors["name"] == "Give the opportunity a name."
    assert errors["amount"] == NOT_A_NUMBER


# --------------------------------------------------------------------------- currencies


def test_currencies_for_puts_the_default_first_without_duplicates():
    result = currencies_for("EUR")
    assert result[0] == "EUR"
    assert result.count("EUR") == 1
    assert set(result) == set(CURRENCIES)
    assert len(result) == len(CURRENCIES)


def test_currencies_for_an_unlisted_default():
    result = currencies_for("NZD")
    assert result[0] == "NZD"
    assert result[1:] == CURRENCIES


# --------------------------------------------------------------------------- lost reason


@pytest.mark.parametrize("raw", ["", "   \n ", None, 42])
def test_lost_reason_missing(raw):
    assert validate_lost_reason(raw, t=EN) == (None, "Say why the deal was lost: it feeds the win/loss analysis.")


def test_lost_reason_too_long():
    assert validate_lost_reason("r" * 501, t=EN) == (None, "Reason is too long: 501 characters, at most 500.")


def test_lost_reason_ok_is_trimmed():
    assert validate_lost_reason("  too expensive, chose X \n", t=EN) == ("too expensive, chose X", None)
    assert validate_lost_reason("r" * 500, t=EN) == ("r" * 500, None)


def test_notes_from_a_message_keep_the_link_and_fit_slacks_limit():
    assert notes_from_message("  Call me about 50 seats  ", "https://x/p1", t=EN) == "Call me about 50 seats\n\nFrom https://x/p1"
    assert notes_from_message("", None, t=EN) is None
    long = notes_from_message("y" * 5000, "https://x/p1", t=EN)
    assert long is not None and len(long) == NOTES_MAX and long.endswith("…\n\nFrom https://x/p1")
