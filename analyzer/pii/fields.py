"""Field-name context: what a field's name says about the value it carries.

Without an NER model, the name is the best evidence for PERSON / LOCATION / DATE_OF_BIRTH /
CREDENTIAL (``{"holder": "Wei Zhang"}``), and it is also what separates a phone number from an
order number of the same shape. Names are normalised once ("billingAddress", "billing-address",
"billing_address" -> "billingaddress") and the verdict is cached per (parent, leaf): field names
repeat across exchanges, so this is a dict hit on the hot path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from analyzer.pii.entities import FIELD_ONLY_TYPES, SPECS

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# (type, pattern on the compacted leaf name), from the registry: every match is kept.
_POSITIVE: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (spec.type, spec.field_names) for spec in SPECS if spec.field_names is not None
)

# Tokens that are handles to other objects rather than secrets.
_NOT_CREDENTIAL = re.compile(
    r"(page|next|prev|previous|continuation|sync|cursor|csrf|xsrf|pagination|resume|idempotency)token$|tokentype"
)

# Bare "name" is PERSON only under a parent that holds a person ("customer.name"), not "product.name".
_PERSON_PARENTS = re.compile(
    r"user|customer|client|holder|person|people|contact|owner|author|employee|patient|member|recipient|sender|"
    r"buyer|seller|payer|payee|guest|passenger|traveller|traveler|driver|applicant|profile|account|billing|shipping|beneficiary|student|teacher|doctor|signer|consignee"
)
# City / zip / state are only address parts inside an address-like parent.
_ADDRESS_PARTS = re.compile(r"^(city|town|zip|zipcode|postcode|postalcode|province|county|state|region)$")
_ADDRESS_PARENTS = re.compile(r"address|addr|billing|shipping|delivery|location|residence|home|mailing")

# Leaf words that say "this number is an identifier, a time or an amount": they veto the weak
# numeric detections (bare phone-shaped digits, bare 9-digit SSN) that look-alikes would trigger.
_NEGATIVE_WORDS = frozenset(
    [
        "id",
        "ids",
        "uuid",
        "guid",
        "sku",
        "order",
        "orders",
        "invoice",
        "ts",
        "timestamp",
        "time",
        "epoch",
        "at",
        "created",
        "updated",
        "modified",
        "expires",
        "expiry",
        "count",
        "qty",
        "quantity",
        "amount",
        "price",
        "total",
        "cost",
        "version",
        "ver",
        "seq",
        "sequence",
        "offset",
        "limit",
        "page",
        "size",
        "tracking",
        "ref",
        "reference",
        "code",
        "nonce",
        "hash",
        "checksum",
        "serial",
        "batch",
        "lot",
        "txn",
        "transaction",
        "trace",
        "span",
        "request",
        "balance",
        "fee",
        "tax",
        "rate",
        "score",
        "duration",
        "length",
        "width",
        "height",
        "weight",
        "year",
        "month",
        "day",
        "barcode",
        "ean",
        "upc",
        "gtin",
        "isbn",
        "build",
        "uptime",
        "port",
    ]
)


# eq=False: identity hashing. Contexts come from an lru_cache, so equal names share one object, and
# the detector's decision cache hashes a context for every value: identity is the cheapest hash.
@dataclass(frozen=True, slots=True, eq=False)
class FieldContext:
    """What a field name implies. ``types`` are positive hints; ``negative`` vetoes weak numbers."""

    types: frozenset[str]
    negative: bool
    # True when a type only the field name can establish (PERSON, LOCATION, ...) is hinted:
    # precomputed because the detector asks it for every value.
    field_only: bool = False
    # The name says the value is an organisation ("company", "merchant"): not a person's name.
    organisation: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_only", bool(self.types & FIELD_ONLY_TYPES))


NO_CONTEXT = FieldContext(frozenset(), False)


def _words(name: str) -> list[str]:
    return [w for w in _NON_ALNUM.split(_CAMEL.sub("_", name).lower()) if w]


def split_field(field: str) -> tuple[str, str]:
    """(parent, leaf) names of a field path like ``items[].customer.name`` or ``root.@id``."""
    parts = [p for p in field.replace("[]", "").split(".") if p]
    if not parts:
        return "", ""
    leaf = parts[-1].lstrip("@")
    parent = parts[-2].lstrip("@") if len(parts) > 1 else ""
    return parent, leaf


# Chinese field names ("手机号", "收货地址", "订单号"): APIs serving CN users often use them as keys.
_CJK_POSITIVE: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (spec.type, spec.field_names_cjk) for spec in SPECS if spec.field_names_cjk is not None
)
_CJK_NEGATIVE = re.compile("订单|单号|编号|时间|金额|日期|流水|数量|价格|序号|版本")
# "ip_address", "email_address", "mac_address" are addresses of another kind: not LOCATION.
_NOT_LOCATION = re.compile(
    r"(ip|mac|email|mail|wallet|contract|remote|server|host|web|url|bitcoin|btc|eth|hw|ether)address"
)


def _cjk_context(leaf: str) -> FieldContext:
    types = {pii_type for pii_type, pattern in _CJK_POSITIVE if pattern.search(leaf)}
    negative = not types and _CJK_NEGATIVE.search(leaf) is not None
    if not types and not negative:
        return NO_CONTEXT
    return FieldContext(frozenset(types), negative)


@lru_cache(maxsize=8192)
def context_for(parent: str, leaf: str) -> FieldContext:
    if not leaf.isascii():
        cjk = _cjk_context(leaf)
        if cjk is not NO_CONTEXT:
            return cjk
    words = _words(leaf)
    if not words:
        return NO_CONTEXT
    # A leading "x" is the legacy custom-header prefix ("X-Api-Key"), not part of the name.
    if words[0] == "x" and len(words) > 1:
        words = words[1:]
    compact = "".join(words)
    parent_compact = "".join(_words(parent))
    types: set[str] = set()
    for pii_type, pattern in _POSITIVE:
        if pattern.search(compact):
            types.add(pii_type)
    if "CREDENTIAL" in types and _NOT_CREDENTIAL.search(compact):
        types.discard("CREDENTIAL")
    if "PERSON" in types and compact == "name" and not _PERSON_PARENTS.search(parent_compact):
        types.discard("PERSON")
    if "LOCATION" in types and (
        _NOT_LOCATION.search(compact)
        or (_ADDRESS_PARTS.match(compact) and not _ADDRESS_PARENTS.search(parent_compact))
    ):
        types.discard("LOCATION")
    # "user_id", "order_no", "created_at", "invoices" and friends; a positive hint ("phone_number") wins.
    negative = not types and any(
        word in _NEGATIVE_WORDS or word.rstrip("s") in _NEGATIVE_WORDS for word in words
    )
    organisation = not types and any(word in _ORG_WORDS for word in words)
    if not types and not negative and not organisation:
        return NO_CONTEXT
    return FieldContext(frozenset(types), negative, organisation=organisation)


_ORG_WORDS = frozenset(
    {
        "company",
        "organization",
        "organisation",
        "org",
        "employer",
        "merchant",
        "business",
        "brand",
        "store",
        "shop",
        "vendor",
        "supplier",
        "bank",
        "restaurant",
        "hotel",
        "agency",
        "firm",
    }
)

# Cookie names that hold a session or auth secret ("sessionid", "PHPSESSID", "connect.sid", "jwt").
_SECRET_COOKIE = re.compile(r"sess|sid$|token|auth|jwt|remember|login|apikey|secret", re.IGNORECASE)
CREDENTIAL_CONTEXT = FieldContext(frozenset({"CREDENTIAL"}), False)


def cookie_context(name: str) -> FieldContext:
    if _SECRET_COOKIE.search(name.replace("-", "").replace("_", "")):
        return CREDENTIAL_CONTEXT
    return context_for("", name)


def field_context(field: str | None) -> FieldContext:
    if not field:
        return NO_CONTEXT
    parent, leaf = split_field(field)
    return context_for(parent, leaf)
