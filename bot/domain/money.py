"""Money across currencies: the workspace's exchange rates and totals that convert with them.

A total of deals in several currencies is a `Money`: everything that can be converted into the
workspace's currency (its own deals, and those in a currency with a rate) as one amount, and each
currency without a rate as its own subtotal — never dropped, never counted as if it were the
workspace's currency. Everything is `Decimal`: rates are exact decimals (at most RATE_DECIMALS
places), sums are exact, and a converted total is rounded half-up to the cent once, at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
RATE_DECIMALS = 6
MAX_RATE = Decimal(1_000_000)


@dataclass(frozen=True)
class ExchangeRate:
    """One unit of `currency` is worth `rate` units of the workspace's currency, as an admin set it on `set_on`."""

    currency: str
    rate: Decimal
    set_on: date

    def describe(self) -> str:
        return f"{self.currency} at {self.rate.normalize():f}, set {self.set_on.isoformat()}"


def read_rate(raw: object) -> Decimal | None:
    """A rate as an admin may write it (7.82, "7.82"): a positive decimal with at most RATE_DECIMALS places, under MAX_RATE; else None."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
        return None
    try:
        value = Decimal(str(raw).strip())  # str() of a float is its shortest repr: 7.82, not 7.8200000000000003
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value >= MAX_RATE:
        return None
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -RATE_DECIMALS:
        return None
    return value


@dataclass(frozen=True)
class Rates:
    """The workspace's currency (`base`) and the rates into it it has been given."""

    base: str
    rates: tuple[ExchangeRate, ...] = ()

    def rate_of(self, currency: str) -> Decimal | None:
        if currency == self.base:
            return Decimal(1)
        return next((r.rate for r in self.rates if r.currency == currency), None)

    def rate_for(self, currency: str) -> ExchangeRate | None:
        return next((r for r in self.rates if r.currency == currency), None)

    def total(self, by_currency: Mapping[str, Decimal]) -> Money:
        """The exact amounts per currency as one Money: converted where a rate exists, each rounded to the cent once."""
        converted = Decimal(0)
        apart: dict[str, Decimal] = {}
        used: list[str] = []
        for currency, amount in by_currency.items():
            rate = self.rate_of(currency)
            if rate is None:
                apart[currency] = apart.get(currency, Decimal(0)) + amount
            else:
                converted += amount * rate
                if currency != self.base:
                    used.append(currency)
        return Money(
            base=self.base,
            amount=converted.quantize(CENT, rounding=ROUND_HALF_UP),
            apart=tuple((c, a.quantize(CENT, rounding=ROUND_HALF_UP)) for c, a in sorted(apart.items())),
            converted=tuple(sorted(used)),
        )

    def zero(self) -> Money:
        return Money(self.base, Decimal("0.00"))


@dataclass(frozen=True)
class Money:
    """A total in the workspace currency (`amount`, including converted currencies, listed in `converted`)
    and, apart, a subtotal per currency that has no rate (`apart`, by currency code)."""

    base: str
    amount: Decimal
    apart: tuple[tuple[str, Decimal], ...] = ()
    converted: tuple[str, ...] = ()

    def __add__(self, other: Money) -> Money:
        if other.base != self.base:
            raise ValueError(f"can't add {other.base} totals to {self.base} totals")
        apart = dict(self.apart)
        for currency, amount in other.apart:
            apart[currency] = apart.get(currency, Decimal(0)) + amount
        return Money(self.base, self.amount + other.amount, tuple(sorted(apart.items())),
                     tuple(sorted(set(self.converted) | set(other.converted))))

    @property
    def currencies(self) -> tuple[str, ...]:
        """The currencies other than the base that this total involves, converted or apart."""
        return tuple(sorted(set(self.converted) | {c for c, _ in self.apart}))


def sum_money(totals: Iterable[Money], base: str) -> Money:
    result = Money(base, Decimal("0.00"))
    for money in totals:
        result = result + money
    return result
