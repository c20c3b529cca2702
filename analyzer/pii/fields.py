"""Field-name context: what a field's name says about the value it carries.

Without an NER model, the name is the best evidence for PERSON / LOCATION / DATE_OF_BIRTH /
CREDENTIAL (``{"holder": "Wei Zhang"}``), and it is also what separates a phone number from an
order number of the same shape. Names are normalised once ("billingAddress", "billing-address",
"billing_address" -> "billingaddress") and the verdict is cached per (parent, leaf): field names
repeat across exchanges, so this is a dict hit on the hot path.

A name can hint a type strongly (``first_name``: any name-shaped value is a person's) or only
suggest it (``displayName``, ``author``, the bare ``name`` of a customer: the value must look like a
person's name too, see ``names.looks_like_person``). The parent counts: ``card.number`` is a card
number, ``name.given`` (FHIR) a given name, ``address.line`` an address; a top-level ``name`` takes
the resource the URL names as its parent (``/customers/{id}`` -> ``customers``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from analyzer.pii.entities import FIELD_ONLY_TYPES, SOFTWARE_PREFIXES, SPECS
from analyzer.pii.names import wordset

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# (type, pattern on the compacted leaf name), from the registry: every match is kept.
_POSITIVE: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (spec.type, spec.field_names) for spec in SPECS if spec.field_names is not None
)
# Names that only suggest a type: the value must look like one as well.
_SUGGESTIVE: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (spec.type, spec.weak_field_names) for spec in SPECS if spec.weak_field_names is not None
)

# Tokens that are handles to other objects rather than secrets.
_NOT_CREDENTIAL = re.compile(
    r"(page|next|prev|previous|continuation|sync|cursor|csrf|xsrf|pagination|resume|idempotency)token$|tokentype"
)

# Parents that hold a person ("customer.name", "billing_details.name"), not "product.name". The
# parent's last word must not name a thing about people ("userGroup.name", "accountType.name").
_PERSON_NOUNS = re.compile(
    r"user|customer|client|holder|person|people|contact|owner|author|employee|patient|member|recipient|sender|"
    r"buyer|seller|payer|payee|guest|passenger|traveller|traveler|driver|applicant|profile|account|billing|shipping|"
    r"beneficiary|student|teacher|doctor|signer|consignee|assignee|reporter|creator|organi[sz]er|attendee|"
    r"participant|reviewer|approver|requester|requestor|subscriber|shopper|consumer|individual|staff|candidate|"
    r"physician|nurse|practitioner|speaker|instructor|^me$|^self$"
    # Who a tracking or CRM payload is about: Segment / Mixpanel "traits", "identity", leads.
    r"|^traits$|^identity$|^identities$|visitor|^leads?$|prospect|respondent|volunteer|donor|claimant"
    r"|policyholder|follower|invitee"
)
_NOT_PERSON_LAST_WORDS = wordset(
    """group type role team app application plan segment list setting settings config configuration status
    category tier level preference preferences permission permissions org organization organisation company
    project product agent stat stats count id key field fields attribute attributes property properties
    template policy rule rules scope scopes channel room event events sync integration"""
)
# Parents whose children describe an object without naming it: a top-level "name" under them is
# the name of whatever the URL's resource is.
_WRAPPERS = wordset(
    """data result results item items record records value values content payload body response entry
    entries list rows row hits source object objects attributes resource node nodes edges element
    elements docs doc"""
)
# Query parameters holding what a user searched for: under a collection of people, a value that
# looks like a person's name is one ("/api/contacts/search?q=Claire St-Jean").
_SEARCH_LEAVES = frozenset({"q", "query", "search", "term", "keyword", "keywords", "searchterm", "text", "filter"})
# City / zip / state are only address parts inside an address-like parent.
_ADDRESS_PARTS = re.compile(
    r"^(city|town|zip|zipcode|postcode|postalcode|province|county|state|region|locality|district|suburb"
    r"|neighbou?rhood|housenumber|housenumberorname|streetname|premise|subpremise|line|lines|line\d|street\d)$"
)
_ADDRESS_PARENTS = re.compile(r"address|addr|billing|shipping|delivery|location|residence|home|mailing")
# "ip_address", "email_address", "peer.address" are addresses of another kind: not LOCATION.
_NOT_LOCATION = re.compile(
    r"(ip|ipv4|ipv6|ip4|ip6|inet|mac|email|mail|wallet|contract|remote|server|host|web|url|bitcoin|btc|eth|hw"
    r"|ether|peer|node|listen|bind|advertise|cluster|network|net|socket|broker|proxy|sip|ldap|multicast"
    r"|broadcast|local|link|pod|service|lb|vip|gateway|dns|smtp|public|private|external|internal)address"
)
_NOT_LOCATION_PARENTS = re.compile(
    r"peer|node|member|cluster|network|endpoint|server|host|listener|socket|broker|interface|upstream|backend"
)
# FHIR HumanName and friends: "name.given", "name[].family".
_NAME_PARENTS = frozenset(
    {"name", "names", "humanname", "fullname", "personname", "legalname", "officialname"}
)
_NAME_PARTS = frozenset({"given", "family", "first", "last", "middle", "text", "givens"})
# "card.number", "cards[].pan": the number of a payment card.
_CARD_PARENTS = re.compile(r"card$|cards$|^pan$|creditcard|debitcard|paymentcard")
_CARD_NUMBER_LEAVES = frozenset({"number", "no", "num", "pan", "cardnumber"})
# Names of things (short labels), unless a person hint says otherwise: names found in such values'
# text ("Karma Police", "Grace Hopper Mug") are not people's.
_THING_LEAVES = frozenset(
    {
        "name",
        "title",
        "label",
        "caption",
        "slug",
        "tag",
        "tags",
        "category",
        "genre",
        "brand",
        "model",
        "kind",
    }
)

# Leaf words that say "this number is an identifier, a time, an amount or a version": they veto the
# weak numeric detections (bare phone-shaped digits, bare 9-digit SSN, IPs in version strings).
_NEGATIVE_WORDS = wordset(
    """id ids uuid guid sku order orders invoice ts timestamp time epoch at created updated modified expires
    expiry count qty quantity amount price total cost version ver seq sequence offset limit page size tracking
    ref reference code nonce hash checksum serial batch lot txn transaction trace span request balance fee tax
    rate score duration length width height weight year month day barcode ean upc gtin isbn build uptime port
    no nr num state signature sign salt digest fingerprint rev revision release lower upper min max minimum
    maximum firmware fw sdk kernel os cursor since until before after v"""
)
# Compact names ending like these are ids, versions or counters too ("openid", "tradeno",
# "prodversion"), except the everyday words that happen to end so.
_NEGATIVE_SUFFIXES = (
    "id",
    "ids",
    "no",
    "nr",
    "num",
    "version",
    "nonce",
    "hash",
    "timestamp",
    "serial",
    "revision",
)
_NOT_NEGATIVE = wordset(
    """paid valid invalid android void avoid rapid liquid fluid humid solid squid acid lucid vivid timid
    stupid candid rigid hybrid pyramid druid orchid cupid david casino piano volcano domino tornado avocado
    mono stereo video audio radio studio photo logo info demo memo promo hello echo"""
)


# eq=False: identity hashing. Contexts come from an lru_cache, so equal names share one object, and
# the detector's decision cache hashes a context for every value: identity is the cheapest hash.
@dataclass(frozen=True, slots=True, eq=False)
class FieldContext:
    """What a field name implies. ``types`` are positive hints (``weak`` the subset the name only
    suggests); ``negative`` vetoes weak numbers."""

    types: frozenset[str]
    negative: bool
    # True when a type only the field name can establish (PERSON, LOCATION, ...) is hinted:
    # precomputed because the detector asks it for every value.
    field_only: bool = False
    # The name says the value is an organisation ("company", "merchant"): not a person's name.
    organisation: bool = False
    weak: frozenset[str] = frozenset()
    # The name labels a thing ("product.name", "title"): names in its text are not people's.
    thing: bool = False
    # A path segment or query parameter: a bare card-length number there is an id, not a card,
    # unless the name says card ("/cards/4111...", "?card_number=").
    in_url: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_only", bool(self.types & FIELD_ONLY_TYPES))


NO_CONTEXT = FieldContext(frozenset(), False)
URL_CONTEXT = FieldContext(frozenset(), False, in_url=True)
# One object per distinct context: "ip" at the top level of two endpoints' bodies (parents
# "lookup" and "") must share the detector's decision cache entries, which key on identity.
_INTERNED: dict[tuple[frozenset[str], bool, bool, frozenset[str], bool, bool], FieldContext] = {
    (frozenset(), False, False, frozenset(), False, False): NO_CONTEXT,
    (frozenset(), False, False, frozenset(), False, True): URL_CONTEXT,
}


def _interned(
    types: frozenset[str], negative: bool, organisation: bool, weak: frozenset[str], thing: bool, in_url: bool
) -> FieldContext:
    key = (types, negative, organisation, weak, thing, in_url)
    ctx = _INTERNED.get(key)
    if ctx is None:
        ctx = _INTERNED[key] = FieldContext(
            types, negative, organisation=organisation, weak=weak, thing=thing, in_url=in_url
        )
    return ctx


def _words(name: str) -> list[str]:
    return [w for w in _NON_ALNUM.split(_CAMEL.sub("_", name).lower()) if w]


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def split_field(field: str) -> tuple[str, str]:
    """(parent, leaf) names of a field path like ``items[].customer.name`` or ``root.@id``."""
    parts = [p for p in field.replace("[]", "").split(".") if p]
    if not parts:
        return "", ""
    leaf = parts[-1].lstrip("@")
    parent = parts[-2].lstrip("@") if len(parts) > 1 else ""
    return parent, leaf


def is_wrapper(parent: str) -> bool:
    """A parent that says nothing about what its children describe (``data``, ``results[]``)."""
    return not parent or "".join(_words(parent)) in _WRAPPERS


def holds_person(name: str) -> bool:
    """Does an object (or a URL resource) of this name hold a person? ``customer``, ``billing_details``,
    ``patients``, ``me``: yes; ``userGroup``, ``accountType``, ``products``: no."""
    words = _words(name)
    if not words:
        return False
    if _singular(words[-1]) in _NOT_PERSON_LAST_WORDS:
        return False
    return _PERSON_NOUNS.search("".join(words)) is not None


# Chinese field names ("手机号", "收货地址", "订单号"): APIs serving CN users often use them as keys.
_CJK_POSITIVE: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (spec.type, spec.field_names_cjk) for spec in SPECS if spec.field_names_cjk is not None
)
_CJK_NEGATIVE = re.compile("订单|单号|编号|时间|金额|日期|流水|数量|价格|序号|版本")


def _cjk_context(leaf: str) -> FieldContext:
    types = {pii_type for pii_type, pattern in _CJK_POSITIVE if pattern.search(leaf)}
    negative = not types and _CJK_NEGATIVE.search(leaf) is not None
    return _interned(frozenset(types), negative, False, frozenset(), False, False)


# Compact names of a software version: "appv", "sdkver", "osvers", "clientv" (a bare "v" is in the
# negative words). Listed prefixes only: "server", "driver", "cover" end in "ver" too.
_VERSION_NAME = re.compile(rf"(?:{SOFTWARE_PREFIXES})(?:v|ver|vers|vsn)")


def _is_negative(words: list[str], compact: str) -> bool:
    if any(word in _NEGATIVE_WORDS or _singular(word) in _NEGATIVE_WORDS for word in words):
        return True
    if compact in _NOT_NEGATIVE:
        return False
    if _VERSION_NAME.fullmatch(compact):
        return True
    return any(compact.endswith(s) and len(compact) > len(s) + 1 for s in _NEGATIVE_SUFFIXES)


@lru_cache(maxsize=32768)
def context_for(parent: str, leaf: str, in_url: bool = False) -> FieldContext:
    if not leaf.isascii():
        cjk = _cjk_context(leaf)
        if cjk is not NO_CONTEXT:
            return cjk
    words = _words(leaf)
    if not words:
        return URL_CONTEXT if in_url else NO_CONTEXT
    # A leading "x" is the legacy custom-header prefix ("X-Api-Key"), not part of the name.
    if words[0] == "x" and len(words) > 1:
        words = words[1:]
    compact = "".join(words)
    singular = _singular(compact)
    parent_words = _words(parent)
    parent_compact = "".join(parent_words)
    types: set[str] = set()
    weak: set[str] = set()
    for pii_type, pattern in _POSITIVE:
        if pattern.search(compact) or (singular != compact and pattern.search(singular)):
            types.add(pii_type)
    for pii_type, pattern in _SUGGESTIVE:
        if pii_type not in types and (pattern.search(compact) or pattern.search(singular)):
            weak.add(pii_type)
    if "CREDENTIAL" in types and _NOT_CREDENTIAL.search(compact):
        types.discard("CREDENTIAL")
    if (compact == "name" or compact in _SEARCH_LEAVES) and holds_person(parent):
        weak.add("PERSON")  # a customer's "name"; "q=Claire St-Jean" searching /contacts
    if compact in _NAME_PARTS and parent_compact in _NAME_PARENTS:
        types.add("PERSON")
    if compact in _CARD_NUMBER_LEAVES and _CARD_PARENTS.search(parent_compact):
        types.add("CREDIT_CARD")
    if _ADDRESS_PARTS.match(compact) and _ADDRESS_PARENTS.search(parent_compact):
        types.add("LOCATION")
    if "LOCATION" in types and (
        _NOT_LOCATION.search(compact)
        or _NOT_LOCATION_PARENTS.search(parent_compact)
        or (_ADDRESS_PARTS.match(compact) and not _ADDRESS_PARENTS.search(parent_compact))
    ):
        types.discard("LOCATION")
    weak -= types
    hinted = types | weak
    # "user_id", "order_no", "created_at", "invoices" and friends; a positive hint ("phone_number") wins.
    negative = not hinted and _is_negative(words, compact)
    organisation = not hinted and any(word in _ORG_WORDS for word in words)
    thing = "PERSON" not in hinted and compact in _THING_LEAVES
    return _interned(frozenset(hinted), negative, organisation, frozenset(weak), thing, in_url)


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
# What the name of an id, a time or a count gives (also: an unnamed JSON number).
NEGATIVE_CONTEXT = _interned(frozenset(), True, False, frozenset(), False, False)
CREDENTIAL_CONTEXT = _interned(frozenset({"CREDENTIAL"}), False, False, frozenset(), False, False)


def cookie_context(name: str) -> FieldContext:
    if _SECRET_COOKIE.search(name.replace("-", "").replace("_", "")):
        return CREDENTIAL_CONTEXT
    return context_for("", name)


def field_context(field: str | None, resource: str = "") -> FieldContext:
    """Context of a body field path; ``resource`` (the URL's resource noun) stands in for a
    parent that says nothing (top level, ``data``, ``results[]``)."""
    if not field:
        return NO_CONTEXT
    parent, leaf = split_field(field)
    if resource and is_wrapper(parent):
        parent = resource
    return context_for(parent, leaf)


# Path segments that are values (ids, keys, encoded data) or actions/views rather than resources.
_VALUE_SEGMENT = re.compile(r".*\d|.*[@%{}=:;,']|.{33,}")
_ACTION_SEGMENTS = wordset(
    """search list find query lookup filter details detail info summary view all export get fetch current
    index show count batch bulk api rest graphql odata svc json xml"""
)
_EXTENSIONS = (".json", ".xml", ".php", ".html", ".htm", ".aspx", ".svc")


def resource_noun(path: str) -> str:
    """The resource a URL names, for the fields of its bodies that have no telling parent:
    ``/api/customers/42`` -> ``customers``, ``/fhir/Patient/example`` -> ``Patient``,
    ``/users/alice`` -> ``users``, ``/Customers('ALFKI')`` -> ``Customers``, ``/me`` -> ``me``.
    A template (``/users/{username}``) works as well."""
    segments = [s for s in path.split("/") if s]
    for i in range(len(segments) - 1, -1, -1):
        segment = segments[i].split("(", 1)[0]  # OData key syntax: Customers('ALFKI')
        for extension in _EXTENSIONS:
            if segment.endswith(extension):
                segment = segment[: -len(extension)]
                break
        if not segment or _VALUE_SEGMENT.match(segment) or segment.lower() in _ACTION_SEGMENTS:
            continue
        # "/users/alice": a bare word right after a collection of people is one of them.
        if i > 0 and not segment.endswith("s") and holds_person(segments[i - 1].split("(", 1)[0]):
            return segments[i - 1].split("(", 1)[0]
        return segment
    return ""


def url_context(name: str) -> FieldContext:
    """Context of a query parameter, or of a path segment by the segment before it."""
    return context_for("", name, True)
