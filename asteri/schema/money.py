"""Money in the public schema, shared by every resource that prices something.

Amounts are integer minor units (never floats: no rounding drift between clients and us) of a
``SafeInt``, because GraphQL's 32-bit ``Int`` tops out near USD 21 million in cents.
"""

import strawberry

from asteri.schema.scalars import SafeInt

__all__ = ["Money", "MoneyInput"]

_AMOUNT = (
    "Integer amount in the currency's minor unit: cents for USD (12900 = $129.00), yen for JPY "
    "(no minor unit), fils for BHD (three decimals)."
)
_CURRENCY = "ISO 4217 code in uppercase, e.g. `USD`."


@strawberry.type(
    description=(
        "An amount of money: integer minor units plus an ISO 4217 currency. Amounts are "
        "`SafeInt`, not `Int`, because `Int` is 32-bit."
    )
)
class Money:
    amount: SafeInt = strawberry.field(description=_AMOUNT)
    currency: str = strawberry.field(description=_CURRENCY)

    @classmethod
    def of(cls, amount: int, currency: str) -> "Money":
        return cls(amount=SafeInt(amount), currency=currency)


@strawberry.input(
    description=(
        "An amount of money. For prices, `amount` is 0 to 1,000,000,000,000 minor units; "
        "`currency` must be an active ISO 4217 code in uppercase (funds, metals and test codes "
        "are refused). Invalid values fail with BAD_USER_INPUT naming the field."
    )
)
class MoneyInput:
    amount: SafeInt = strawberry.field(description=_AMOUNT)
    currency: str = strawberry.field(description=_CURRENCY)
