"""Money validation that every priced resource reuses: one rule set, one set of messages.

The currency list is kept here rather than taken from a dependency: it is short, changes a few
times a year (ISO 4217 amendments), and is a product decision as much as a standard — we accept
the codes a business can bill in and refuse funds (``USN``), metals (``XAU``), SDR and test codes.
Review it when ISO publishes an amendment; removing a code makes stored prices in it fail the
next update's validation, so retire codes deliberately.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = ["CURRENCIES", "MAX_PRICE", "CurrencyCode", "MoneyFields"]

MAX_PRICE = 10**12  # minor units: USD 10 billion; far below SafeInt's 2^53 - 1

# Active ISO 4217 currency codes as of 2026 (list one), less funds, metals, SDR and test codes.
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
    KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR
    MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR
    SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()
)
_CODE = re.compile(r"^[A-Z]{3}$")


def _currency(code: str) -> str:
    if not _CODE.fullmatch(code):
        raise ValueError("must be an ISO 4217 code of three uppercase letters, e.g. `USD`")
    if code not in CURRENCIES:
        raise ValueError(f"`{code}` is not a currency we accept (active ISO 4217 codes only)")
    return code


# The pattern is also the schemas' (a lowercase code is refused before the list is read).
# The list is declared too (an enum in the REST schema): a well-formed code we do not accept is
# refused by the same rule the schemas state.
CurrencyCode = Annotated[
    str,
    Field(strict=True, pattern=_CODE.pattern, json_schema_extra={"enum": sorted(CURRENCIES)}),
    AfterValidator(_currency),
]


class MoneyFields(BaseModel):
    """A price: 0 to ``MAX_PRICE`` minor units. Strict ints, so ``true`` or ``1.5`` never pass."""

    model_config = ConfigDict(extra="forbid")

    amount: Annotated[int, Field(strict=True, ge=0, le=MAX_PRICE)]
    currency: CurrencyCode
