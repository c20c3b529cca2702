"""Object-level rules: bola (objects never handed to the identity) and enumeration (id walks).

Ownership is learned from responses: every id an identity's 2xx responses hand out (``id``-like
JSON fields, ``Location``) joins that identity's capped set of owned objects. An object handed to
exactly one other identity and never to this one is *foreign*: served 2xx to this identity, it is
another user's object (a catalogue item handed to many identities is shared, not foreign). An
object nobody was ever shown is not evidence either way (bola stays quiet; a dense walk over such
ids is enumeration's).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from analyzer.detect.context import PAGINATION, Seen, _id_key, blinded_number, looks_like_id, numeric_offset
from analyzer.detect.model import DetectExchange
from analyzer.detect.rules.base import Hasher, Rule, Sink, envelope_failed, expired
from analyzer.detect.settings import DetectSettings
from analyzer.detect.windows import CappedSet, DistinctCounter, LruTable, window_start

SHARED = -1  # an object handed to several identities (a catalogue item, a shared document)
CROSS_OWNER_MIN = 3  # other owners whose objects one response hands out: a view across owners


class Ownership:
    """Per identity (actor key): the objects its responses handed out; per object: its owner.

    Both bounded: ``max_owned_per_identity`` hashes per identity (oldest first out),
    ``max_identities`` identities and ``max_objects`` objects (least recently used first out).
    """

    def __init__(self, settings: DetectSettings, hasher: Hasher) -> None:
        self.settings = settings
        self.hash = hasher
        self.owned: LruTable[str, CappedSet] = LruTable(settings.max_identities, settings.probation_keys)
        self.owners: LruTable[int, int] = LruTable(settings.max_objects)

    def owns(self, actor_key: str, value: str) -> bool:
        h = self.hash(value)
        owned = self.owned.peek(actor_key)
        if owned is not None:
            return h in owned
        # The identity's own set was evicted (e.g. from the probation segment): the object's
        # owner, when still remembered, answers for it.
        return self.owners.peek(h) == self.hash(actor_key)

    def foreign(self, actor_key: str, value: str) -> bool:
        """The object was handed to exactly one other identity, and never to this one."""
        h = self.hash(value)
        owned = self.owned.peek(actor_key)
        if owned is not None and h in owned:
            return False
        owner = self.owners.peek(h)
        return owner is not None and owner != SHARED and owner != self.hash(actor_key)

    def learn(self, seen: Seen) -> None:
        if seen.actor.identity is None:
            return
        values = list(seen.response_ids)
        echoed: frozenset[str] = frozenset()
        # Objects the identity itself created or replaced are its own too.
        if seen.ok and seen.x.method in ("POST", "PUT"):
            values += [v for _n, v in seen.request_ids]
            if seen.x.method == "POST":
                echoed = frozenset(v for _n, v in post_body_ids(seen))
        elif values and seen.request_ids:
            echoed = frozenset(v for _n, v in seen.request_ids)
        if not values:
            return
        cap = self.settings.max_owned_per_identity
        key = seen.actor.key
        owned = self.owned.setdefault(key, CappedSet, cap)
        me = self.hash(key)
        owners, hasher, add = self.owners, self.hash, owned.add
        hashes = [hasher(value) for value in values]
        if len(hashes) >= CROSS_OWNER_MIN:
            peek = owners.peek
            others = {o for o in map(peek, hashes) if o is not None and o != me and o != SHARED}
            if len(others) >= CROSS_OWNER_MIN:
                # One response handing out objects of several other owners is a view across
                # owners (an admin's listing, an export, a harvest): the objects are now known
                # to this identity, but they stay their owners' -- marked shared, every later
                # walk over them would look like a catalogue and BOLA would be blind to it.
                for h in hashes:
                    add(h)
                return
        claim = owners.setdefault_value
        # An id the request named and the response merely echoed was not handed to the
        # identity: it asked for it (a catalogue item opened from a link, or another user's
        # object fetched by a BOLA walk). It joins what the identity has seen, but claims no
        # owner and shares none: ownership comes from listings, nested objects and Location.
        skip = frozenset(hasher(v) for v in echoed) if echoed else echoed
        for h in hashes:
            add(h)
            if h in skip:
                continue
            owner = claim(h, me)
            if owner != me and owner != SHARED:
                owners.replace(h, SHARED)

    def to_state(self) -> Any:
        return {"owned": self.owned.to_state(lambda s: s.to_state()), "owners": self.owners.to_state(lambda v: v)}

    def load_state(self, data: Any) -> None:
        cap = self.settings.max_owned_per_identity
        self.owned = LruTable.from_state(
            data["owned"], self.settings.max_identities, lambda d: CappedSet.from_state(d, cap), probation=self.settings.probation_keys
        )
        self.owners = LruTable.from_state(data["owners"], self.settings.max_objects, int, int)


MAX_BODY_FIELDS = 50
MAX_FORM_BYTES = 8192


def post_body_ids(seen: Seen) -> list[tuple[str, str]]:
    """Objects a POST names in its JSON body when it reads or changes them rather than creating
    one: RPC-style APIs read by POST (``POST /orders/get {"order_id": ...}``,
    ``POST /api/invoices.update {"id": ...}``, JSON-RPC ``params``). A creation (201, or a
    ``Location`` to the new object) names its new object, not an existing one. Top-level fields
    and one nested object (``params``, ``data``, ``filter``); JSON-RPC's own ``id`` is the
    call's sequence number, not an object."""
    x = seen.x
    body = seen.request_json
    if x.method != "POST" or x.status == 201 or x.response_header("location"):
        return []
    if type(body) is not dict:
        body = _form_fields(x)  # a legacy client posts the same call as a form
        if not body:
            return []
    # bola, enumeration and ownership ask for the same exchange in turn: the last answer is kept.
    last_seen, last_ids = _LAST_BODY_IDS[0]
    if last_seen is seen:
        return last_ids
    out = _post_body_ids(body)
    _LAST_BODY_IDS[0] = (seen, out)
    return out


_LAST_BODY_IDS: list[tuple[Seen | None, list[tuple[str, str]]]] = [(None, [])]


def _form_fields(x: DetectExchange) -> dict[str, str] | None:
    if not x.request_body or "x-www-form-urlencoded" not in (x.request_header("content-type") or "").lower():
        return None
    pairs = parse_qsl(x.request_body[:MAX_FORM_BYTES].decode("utf-8", "replace"), max_num_fields=MAX_BODY_FIELDS * 4)
    return dict(pairs[:MAX_BODY_FIELDS])


def _post_body_ids(body: dict[Any, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    rpc = "jsonrpc" in body
    for depth, fields in ((0, body), *((1, v) for v in list(body.values())[:MAX_BODY_FIELDS] if type(v) is dict)):
        for name, value in list(fields.items())[:MAX_BODY_FIELDS]:
            kind = type(value)
            if kind is not str and kind is not int:
                continue
            key = str(name)
            if (depth == 0 and rpc and key == "id") or key.lower() in PAGINATION or not _id_key(key):
                continue
            text = str(value)
            if looks_like_id(text):
                out.append((key, text))
    return out


def object_ids(seen: Seen) -> list[tuple[str, str]]:
    """What the request names an object by: path, query and (non-POST) body ids, and for a POST
    that is no creation the ids of its JSON body too."""
    if seen.x.method == "POST":
        if seen.x.status == 201 or seen.x.response_header("location"):
            return []
        return seen.request_ids + post_body_ids(seen)
    return seen.request_ids


class _Template:
    """Who uses one template, and who was served on it objects handed to another identity."""

    __slots__ = ("users", "askers")

    def __init__(self) -> None:
        self.users = DistinctCounter()
        self.askers = DistinctCounter()

    def to_state(self) -> list[Any]:
        return [self.users.to_state(), self.askers.to_state()]

    @classmethod
    def from_state(cls, data: list[Any]) -> _Template:
        t = cls()
        t.users, t.askers = DistinctCounter.from_state(data[0]), DistinctCounter.from_state(data[1])
        return t


SHARED_TEMPLATE_SHARE = 0.2  # of a template's identities served other identities' objects


def _mask_id(value: str) -> str:
    return value[:2] + "…" if len(value) > 4 else "…"


class BolaRule(Rule):
    kind = "bola"
    severity = "high"
    title = "Broken object-level authorisation: objects never handed to this identity were served to it"

    def __init__(self, settings: DetectSettings, hasher: Hasher, ownership: Ownership) -> None:
        super().__init__(settings, hasher)
        self.window = settings.bola_window
        self.ownership = ownership
        # (actor key, host, template, window) -> distinct foreign objects served
        self.foreign_objects: LruTable[tuple[str, str, str, float], DistinctCounter] = LruTable(settings.max_window_keys)
        # (host, template) -> its identities, and those naming objects they were never handed
        self.templates: LruTable[tuple[str, str], _Template] = LruTable(settings.max_window_keys)

    def observe(self, seen: Seen, sink: Sink) -> None:
        actor = seen.actor
        x = seen.x
        if actor.identity is None or not seen.ok:
            return
        if x.method == "PUT" and x.status == 201:
            return  # created: its own from now on
        ids = object_ids(seen)
        if not ids or envelope_failed(seen):
            return
        ownership, me = self.ownership, actor.key
        foreign = [(n, v) for n, v in ids if ownership.foreign(me, v)]
        usage = self.templates.setdefault((x.host, seen.template), _Template)
        who = self.hash(me)
        usage.users.add(who)
        if not foreign:
            return
        usage.askers.add(who)
        # A template on which many identities (a fifth of its users, at least
        # bola_shared_identities) are served objects handed to someone else is shared by design:
        # a catalogue fetched by id from links, public profiles, other people's posts.
        askers = usage.askers.count()
        if askers >= self.settings.bola_shared_identities and askers >= SHARED_TEMPLATE_SHARE * usage.users.count():
            return
        key = (actor.key, x.host, seen.template, window_start(x.ts, self.window))
        counter = self.foreign_objects.setdefault(key, DistinctCounter)
        for _name, value in foreign:
            counter.add(self.hash(value))
        distinct = counter.count()
        if distinct >= self.settings.bola_min_objects:
            self.hit(
                seen,
                sink,
                severity="critical" if x.method in ("DELETE", "PUT", "PATCH") or seen.pii_records else "high",
                evidence={
                    "foreign_objects": distinct,
                    "param": foreign[0][0],
                    "sample": _mask_id(foreign[0][1]),
                    "status": x.status,
                    "pii_types": sorted({t for t, _ in x.pii}),
                },
            )

    def expire(self, watermark: float, sink: Sink) -> None:
        for key, _ in self.foreign_objects.items():
            if expired(key[3], self.window, watermark, self.settings.lateness):
                self.foreign_objects.pop(key)

    def to_state(self) -> Any:
        return {
            "foreign": self.foreign_objects.to_state(lambda c: c.to_state(), list),
            "templates": self.templates.to_state(lambda t: t.to_state(), list),
        }

    def load_state(self, data: Any) -> None:
        if isinstance(data, list):  # a state saved before template usage was kept
            data = {"foreign": data, "templates": [0, []]}
        n = self.settings.max_window_keys
        self.foreign_objects = LruTable.from_state(data["foreign"], n, DistinctCounter.from_state, lambda k: (k[0], k[1], k[2], k[3]))
        self.templates = LruTable.from_state(data["templates"], n, _Template.from_state, lambda k: (k[0], k[1]))


class _Walk:
    """One actor's walk over one parameter in one window."""

    __slots__ = ("ids", "missing", "total", "last", "step", "run", "best_run")

    def __init__(self) -> None:
        self.ids = DistinctCounter()
        self.missing = DistinctCounter()
        self.total = 0
        self.last: int | None = None
        self.step = 0
        self.run = 1
        self.best_run = 1

    def add(self, h: int, number: int | None, not_found: bool) -> None:
        self.total += 1
        if self.ids.add(h) and not_found:
            self.missing.add(h)
        if number is None:
            return
        if self.last is not None:
            step = number - self.last
            if step != 0 and abs(step) <= 2 and (step == self.step or self.run == 1):
                self.step = step
                self.run += 1
            elif step != 0:
                self.step = 0
                self.run = 1
            self.best_run = max(self.best_run, self.run)
        self.last = number

    def to_state(self) -> list[Any]:
        return [self.ids.to_state(), self.missing.to_state(), self.total, self.last, self.step, self.run, self.best_run]

    @classmethod
    def from_state(cls, data: list[Any]) -> _Walk:
        walk = cls()
        walk.ids = DistinctCounter.from_state(data[0])
        walk.missing = DistinctCounter.from_state(data[1])
        walk.total, walk.last, walk.step, walk.run, walk.best_run = data[2], data[3], data[4], data[5], data[6]
        return walk


class EnumerationRule(Rule):
    kind = "enumeration"
    severity = "high"
    title = "Enumeration: an actor walks an id space"

    def __init__(self, settings: DetectSettings, hasher: Hasher, ownership: Ownership) -> None:
        super().__init__(settings, hasher)
        self.window = settings.enum_window
        self.ownership = ownership
        # One-request walks (one-shot tokens) cannot fire: they wait in the probation segment.
        self.walks: LruTable[tuple[str, str, str, str, float], _Walk] = LruTable(settings.max_window_keys, settings.probation_keys)
        self.offset = numeric_offset(hasher)

    def observe(self, seen: Seen, sink: Sink) -> None:
        x = seen.x
        post = x.method == "POST"
        if post:
            ids = post_body_ids(seen)
        elif x.method in ("GET", "HEAD", "DELETE", "PATCH", "PUT"):
            ids = seen.request_ids
        else:
            return
        if not ids:
            return
        actor = seen.actor
        start = window_start(x.ts, self.window)
        s = self.settings
        # Not found: a 404, or a 2xx whose envelope says the call failed (RPC APIs answer 200).
        missing_answer = x.status == 404 or envelope_failed(seen)
        for name, value in ids:
            if name.lower() in PAGINATION or self.ownership.owns(actor.key, value):
                continue
            key = (actor.key, x.host, seen.template, name, start)
            walk = self.walks.setdefault(key, _Walk)
            walk.add(self.hash(value), blinded_number(value, self.offset), missing_answer)
            distinct, missing = walk.ids.count(), walk.missing.count()
            subtype = None
            if post:
                # A POST answered 2xx may have created what it named (a client-chosen id): only
                # the not-found answers say a POST looked objects up.
                if distinct >= s.enum_min_404 and missing >= s.enum_404_share * distinct:
                    subtype = "not_found"
            elif distinct >= s.enum_min_distinct:
                subtype = "dense"
            elif walk.best_run >= s.enum_min_run:
                subtype = "sequential"
            elif distinct >= s.enum_min_404 and missing >= s.enum_404_share * distinct:
                subtype = "not_found"
            if subtype is not None:
                self.hit(
                    seen,
                    sink,
                    subtype=subtype,
                    evidence={
                        "param": name,
                        "distinct_ids": distinct,
                        "not_found": missing,
                        "longest_run": walk.best_run,
                        "requests": walk.total,
                    },
                )

    def expire(self, watermark: float, sink: Sink) -> None:
        for key, _ in self.walks.items():
            if expired(key[4], self.window, watermark, self.settings.lateness):
                self.walks.pop(key)

    def to_state(self) -> Any:
        return self.walks.to_state(lambda w: w.to_state(), list)

    def load_state(self, data: Any) -> None:
        self.walks = LruTable.from_state(
            data, self.settings.max_window_keys, _Walk.from_state, lambda k: (k[0], k[1], k[2], k[3], k[4]),
            probation=self.settings.probation_keys,
        )
