"""Words with a fixed role in routes: reserved literals, API roots, and parameter naming."""

from __future__ import annotations

import re

# Literals that sit beside parameters in real APIs; never absorbed into a parameter.
_RESERVED = """me self current mine my search find query lookup featured recent latest popular trending new
    newest top best all count stats statistics summary export import batch bulk settings config
    configuration info status health healthz ping metrics login logout register signup signin auth
    oauth token refresh upload uploads download history overview random today upcoming archived
    archive active pending drafts draft following followers suggestions suggested autocomplete
    validate verify preview bulk_delete by-email by-name by-date names types schema meta metadata
    public private stream watch events feed timeline version versions changes diff compare
    create update delete remove prune start stop restart kill pause unpause attach wait resize rename
    inspect push pull tag load get json list move copy clone merge close reopen lock unlock enable
    disable cancel approve reject publish unpublish restore reset archive activate deactivate"""
RESERVED_WORDS: frozenset[str] = frozenset(_RESERVED.split())

# Segments after which the next segment is a resource collection, not an id.
API_WORDS: frozenset[str] = frozenset({"", "api", "apis", "rest", "svc", "services", "service", "latest"})

_REPRESENTATIONS = ("json", "xml", "csv", "html", "txt", "yaml")


def route_base(seg: str) -> str:
    """Segment without a representation suffix: "Queues.json" is the route "Queues"."""
    head, dot, ext = seg.rpartition(".")
    return head if dot and ext.lower() in _REPRESENTATIONS else seg


def is_reserved(seg: str) -> bool:
    if seg and not any(c.isalnum() for c in seg):
        # A segment of punctuation alone ("/users/-/password", "/t/-/{id}.json", "/~"): a
        # placeholder by convention (the current user, any parent), never a value people give.
        return True
    low = seg.lower()
    # "recent.json" is the route "recent" in a given representation.
    return low in RESERVED_WORDS or low.rsplit(".", 1)[0] in RESERVED_WORDS


def is_plural_collection(seg: str) -> bool:
    """ "orders", "Accounts.json": a plural noun (a collection) rather than "status" or "address"."""
    low = route_base(seg).lower()
    # ("js", "os" are no plurals: a plural noun has a stem of two letters or more, "ids")
    return len(low) >= 3 and low.endswith("s") and not low.endswith("ss")


_IES_WORDS = frozenset({"species", "series", "pies", "ties", "lies", "selfies", "smoothies", "goodies"})
_IRREGULAR = {"people": "person", "children": "child", "men": "man", "women": "woman", "mice": "mouse"}


def singular(word: str) -> str:
    w = word
    low = w.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low]
    if low in ("series", "species", "news"):
        return w
    if low.endswith("ies") and len(w) > 4:
        # "movies", "cookies", "zombies" lose only the "s"; "categories", "policies" end in "y".
        return w[:-1] if low[-4] in "vkb" or low in _IES_WORDS else w[:-3] + "y"
    if low.endswith(("sses", "xes", "ches", "shes", "zes")):
        return w[:-2]
    if low.endswith("s") and not low.endswith(("ss", "us", "is")) and len(w) > 3:
        return w[:-1]
    return w


def camel(word: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", word) if p]
    if not parts:
        return ""
    first = parts[0]
    out = first[0].lower() + first[1:] + "".join(p[0].upper() + p[1:] for p in parts[1:])
    return out if not out[0].isdigit() else "p" + out
