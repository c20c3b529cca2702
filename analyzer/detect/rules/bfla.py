"""bfla: an identity succeeds at an operation that only a distinct group of identities uses.

Per service, the identities using it, and per operation (method + template) the group of
identities that used it successfully during the learning period. An operation is *privileged*
when its group is a minority of the service's identities (at most ``bfla_max_group_share``) and
it is an administrative function (an admin-like path) or a write (DELETE/PUT/PATCH) on an object
the caller was never handed. After learning, a 2xx to an identity outside that group is an event.
An operation first seen after learning counts when its path is admin-like and the caller is not
one of the identities that used privileged operations while learning. Groups stop growing after
learning: a caller does not become entitled by succeeding.
"""

from __future__ import annotations

import re
from typing import Any

from analyzer.detect.context import Seen
from analyzer.detect.rules.base import Hasher, Rule, Sink, envelope_failed
from analyzer.detect.rules.objects import Ownership
from analyzer.detect.settings import DetectSettings
from analyzer.detect.windows import CappedSet, DistinctCounter, LruTable

# Words are delimited by "/" (REST), and by "." or ":" too: RPC method names
# (``/api/admin.users.setRole``) and custom methods (``/v1/users/{id}:promote``) name functions
# the same way. A file extension after the word (``/config.json``) is a file, not a function.
ADMIN_PATH = re.compile(
    r"(?:^|[/.:])(?:admin\w*|administrator|manage(?:ment|r)?|internal|staff|superuser|sudo|root|backoffice|"
    r"console|ops|moderat\w+|impersonat\w*|roles?|permissions?|privileges?|grants?|tenants?|billing/admin|"
    r"system|config(?:uration)?|settings/global|audit|users/\{[^}]+\}[/:](?:role|roles|permissions|status|ban|"
    r"lock|unlock|promote|disable|enable))"
    r"(?:/|$|\{|[.:](?!(?:json|ya?ml|xml|js|css|html?|txt|png|jpe?g|gif|svg|ico|map|woff2?|php|aspx?)$)\w)",
    re.IGNORECASE,
)
WRITES = frozenset({"DELETE", "PUT", "PATCH"})
_ADMIN_TEMPLATES: dict[str, bool] = {}  # template -> ADMIN_PATH verdict (bounded memo, not serialised)
_ADMIN_TEMPLATES_MAX = 10_000


def admin_template(template: str) -> bool:
    """Whether the template names an admin function. Memoised: templates repeat on nearly every
    request, and the pattern (~30 alternatives tried at every position, case-folded) cost ~7 us
    per search -- a third of the rule's cost per exchange."""
    verdict = _ADMIN_TEMPLATES.get(template)
    if verdict is None:
        if len(_ADMIN_TEMPLATES) >= _ADMIN_TEMPLATES_MAX:
            _ADMIN_TEMPLATES.clear()
        verdict = _ADMIN_TEMPLATES[template] = ADMIN_PATH.search(template) is not None
    return verdict
GROUP_CAP = 256


class _Operation:
    __slots__ = ("members", "size", "calls")

    def __init__(self) -> None:
        self.members = CappedSet(GROUP_CAP)
        self.size = DistinctCounter()
        self.calls = 0

    def to_state(self) -> list[Any]:
        return [self.members.to_state(), self.size.to_state(), self.calls]

    @classmethod
    def from_state(cls, data: list[Any]) -> _Operation:
        op = cls()
        op.members = CappedSet.from_state(data[0], GROUP_CAP)
        op.size = DistinctCounter.from_state(data[1])
        op.calls = data[2]
        return op


class BflaRule(Rule):
    kind = "bfla"
    severity = "high"
    title = "Broken function-level authorisation: a privileged operation served to an identity outside its group"

    def __init__(self, settings: DetectSettings, hasher: Hasher, ownership: Ownership) -> None:
        super().__init__(settings, hasher)
        self.window = settings.bfla_window
        self.ownership = ownership
        self.first_ts: float | None = None
        self.population: LruTable[str, DistinctCounter] = LruTable(10_000)  # host -> identities
        self.operations: LruTable[tuple[str, str, str], _Operation] = LruTable(settings.max_window_keys)
        self.privileged: LruTable[str, CappedSet] = LruTable(10_000)  # host -> identities using privileged ops

    def _learning(self, ts: float) -> bool:
        if self.first_ts is None:
            self.first_ts = ts
        return ts < self.first_ts + self.settings.learning_seconds

    def observe(self, seen: Seen, sink: Sink) -> None:
        x = seen.x
        identity = seen.actor.identity
        learning = self._learning(x.ts)
        if identity is None:
            return
        who = self.hash(identity.key)
        population = self.population.setdefault(x.host, DistinctCounter)
        population.add(who)
        if not seen.ok or envelope_failed(seen):
            return
        admin_path = admin_template(seen.template)
        foreign_write = x.method in WRITES and any(not self.ownership.owns(seen.actor.key, v) for _n, v in seen.request_ids)
        key = (x.host, x.method, seen.template)
        op = self.operations.peek(key)
        if learning:
            op = self.operations.setdefault(key, _Operation)
            op.members.add(who)
            op.size.add(who)
            op.calls += 1
            if admin_path or x.method in WRITES:
                self.privileged.setdefault(x.host, CappedSet, GROUP_CAP).add(who)
            return
        s = self.settings
        users = population.count()
        if users < s.bfla_min_population or not (admin_path or foreign_write):
            return
        if op is None:
            entitled = self.privileged.peek(x.host)
            if not admin_path or (entitled is not None and who in entitled) or entitled is None:
                return
            group = 0
        else:
            group = op.size.count()
            entitled = self.privileged.peek(x.host)
            if who in op.members or group > s.bfla_max_group_share * users or (entitled is not None and who in entitled):
                return
        self.hit(
            seen,
            sink,
            severity="critical" if x.method in WRITES else "high",
            evidence={
                "operation": f"{x.method} {seen.template}",
                "group_size": group,
                "identities": users,
                "status": x.status,
                "reason": "admin_function" if admin_path else "write_on_foreign_object",
            },
        )

    def to_state(self) -> Any:
        return {
            "first_ts": self.first_ts,
            "population": self.population.to_state(lambda c: c.to_state()),
            "operations": self.operations.to_state(lambda o: o.to_state(), list),
            "privileged": self.privileged.to_state(lambda c: c.to_state()),
        }

    def load_state(self, data: Any) -> None:
        self.first_ts = data["first_ts"]
        self.population = LruTable.from_state(data["population"], 10_000, DistinctCounter.from_state)
        self.operations = LruTable.from_state(
            data["operations"], self.settings.max_window_keys, _Operation.from_state, lambda k: (k[0], k[1], k[2])
        )
        self.privileged = LruTable.from_state(data["privileged"], 10_000, lambda d: CappedSet.from_state(d, GROUP_CAP))
