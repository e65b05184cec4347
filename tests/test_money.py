"""Money across currencies (bot/domain/money.py), the exchange rates in the configuration file, and their words."""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal

import pytest

from bot.domain.money import ExchangeRate, Money, Rates, read_rate, sum_money
from bot.slack.blocks import format_money, rates_note
from bot.workspace.config import ConfigError, parse_config, to_toml
from bot.workspace.forms import read_rate_lines

SET = date(2026, 11, 30)
CNY = Rates("CNY", (ExchangeRate("EUR", Decimal("7.82"), SET), ExchangeRate("USD", Decimal("7.1"), date(2026, 11, 28))))


def test_a_total_converts_what_has_a_rate_and_keeps_the_rest_apart():
    # 1,000 CNY + 100 EUR x 7.82 + 10 USD x 7.1 = 1,000 + 782 + 71 = 1,853; GBP has no rate: its own subtotal
    total = CNY.total({"CNY": Decimal("1000"), "EUR": Decimal("100"), "USD": Decimal("10"), "GBP": Decimal("50.5")})
    assert total == Money("CNY", Decimal("1853.00"), (("GBP", Decimal("50.50")),), ("EUR", "USD"))
    assert total.currencies == ("EUR", "GBP", "USD")
    assert format_money(total) == "CNY 1,853 + GBP 50.50"


def test_the_conversion_is_rounded_half_up_once_at_the_end():
    # 0.125 EUR x 7.82 = 0.9775 and 0.005 CNY: 0.9825 -> 0.98; each rounded first would give 0.98 + 0.01 = 0.99
    assert CNY.total({"EUR": Decimal("0.125"), "CNY": Decimal("0.005")}).amount == Decimal("0.98")
    assert CNY.total({"CNY": Decimal("0.005")}).amount == Decimal("0.01")  # half up, not to even


def test_empty_and_zero_totals():
    assert CNY.total({}) == CNY.zero() == Money("CNY", Decimal("0.00"))
    assert format_money(CNY.zero()) == "CNY 0"
    # a currency without a rate whose deals sum to 0 is still shown apart, never folded into the base
    assert format_money(CNY.total({"GBP": Decimal(0)})) == "CNY 0 + GBP 0"


def test_totals_add_up_per_currency():
    a = CNY.total({"CNY": Decimal("10"), "GBP": Decimal("1")})
    b = CNY.total({"EUR": Decimal("1"), "GBP": Decimal("2"), "JPY": Decimal("300")})
    assert a + b == Money("CNY", Decimal("17.82"), (("GBP", Decimal("3.00")), ("JPY", Decimal("300.00"))), ("EUR",))
    assert sum_money([a, b], "CNY") == a + b and sum_money([], "CNY") == CNY.zero()
    with pytest.raises(ValueError):
        _ = a + Rates("USD").zero()


def test_the_note_names_each_rate_and_its_date_once_and_the_currencies_without_one():
    totals = [CNY.total({"EUR": Decimal(1)}), CNY.total({"EUR": Decimal(2), "GBP": Decimal(1)}), CNY.zero()]
    assert rates_note(CNY, totals) == ("Amounts in CNY, converted: EUR at 7.82, set 2026-11-30. "
                                       "GBP has no exchange rate (`/opp config`), so it is shown apart.")
    assert rates_note(CNY, [CNY.total({"GBP": Decimal(1), "JPY": Decimal(1)})]) == (
        "GBP, JPY have no exchange rate (`/opp config`), so they are shown apart.")
    assert rates_note(CNY, [CNY.total({"CNY": Decimal(5)})]) == ""  # only the workspace currency: nothing to say


@pytest.mark.parametrize("raw, expected", [
    (7.82, Decimal("7.82")), ("7.82", Decimal("7.82")), (7, Decimal("7")), ("0.000001", Decimal("0.000001")),
    (" 1.5 ", Decimal("1.5")), ("7.8200", Decimal("7.8200")),
    (0, None), (-1, None), ("0.0000001", None), ("abc", None), ("NaN", None), ("Infinity", None), (True, None), (None, None),
    ("1000000", None), ([7], None),
])
def test_what_reads_as_a_rate(raw, expected):
    assert read_rate(raw) == expected


def test_rates_in_the_configuration_file_round_trip():
    config = parse_config(textwrap.dedent("""
        [workspace]
        currency = "CNY"

        [exchange_rates]
        USD = { rate = 7.1, set_on = 2026-11-28 }
        EUR = { rate = "7.82", set_on = "2026-11-30" }
    """), "x.toml")
    assert config.exchange_rates == CNY.rates
    assert parse_config(to_toml(config), "again.toml").exchange_rates == CNY.rates
    assert 'EUR = { rate = "7.82", set_on = 2026-11-30 }' in to_toml(config)


@pytest.mark.parametrize("table, message", [
    ('EUR = 7.82', "must be { rate = 7.82, set_on = 2026-11-30 }: one EUR in CNY, and the day it was set"),
    ('EUR = { rate = 7.82 }', "set_on must be the date the rate was set, like 2026-11-30, got None"),
    ('EUR = { rate = 7.82, set_on = 2026-11-30T10:00:00 }', "set_on must be the date the rate was set"),
    ('EUR = { rate = -1, set_on = 2026-11-30 }', "rate must be a positive number under 1,000,000 with at most 6 decimals, got -1"),
    ('EUR = { rate = 7.82, set_on = 2026-11-30, by = "me" }', "EUR: unknown key 'by' (allowed: rate, set_on)"),
    ('CNY = { rate = 1, set_on = 2026-11-30 }', "CNY is the workspace currency; it needs no rate"),
    ('RMB2 = { rate = 1, set_on = 2026-11-30 }', "a rate's key must be a 3-letter ISO currency code like EUR, got 'RMB2'"),
])
def test_bad_rates_in_the_configuration_file_are_pointed_at(table, message):
    text = f'[workspace]\ncurrency = "CNY"\n\n[exchange_rates]\n{table}\n'
    with pytest.raises(ConfigError) as error:
        parse_config(text, "x.toml")
    assert str(error.value).startswith("x.toml:5: exchange_rates.") and message in str(error.value)


def test_the_config_forms_rate_lines():
    assert read_rate_lines("eur 7.82\n\n  USD=7.1 \nGBP: 9", "CNY") == (
        (("EUR", Decimal("7.82")), ("GBP", Decimal("9")), ("USD", Decimal("7.1"))), None)
    assert read_rate_lines("", "CNY") == ((), None)
    assert read_rate_lines("EUR 7,82", "CNY")[1] == "“EUR 7,82”: the rate must be a positive number under 1,000,000 with at most 6 decimals."
