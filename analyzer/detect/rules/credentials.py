"""credential_stuffing (many user names, mostly refused) and brute_force (one user, many tries).

Login endpoints are found by behaviour, not by name: a request carrying a user name and a
password (JSON or form fields, or Basic credentials) and an answer that accepts or refuses it.
Per client address, login endpoint and window: the distinct user names (keyed hashes), attempts,
refusals, and refusals per user name. A shared NAT address logs many users in successfully; a
user mistyping a password three times stays far below ``brute_min_failures``.
"""

from __future__ import annotations

from typing import Any

from analyzer.detect.context import Seen
from analyzer.detect.model import ActorRef
from analyzer.detect.rules.base import Hasher, Rule, Sink, expired
from analyzer.detect.settings import DetectSettings
from analyzer.detect.windows import DistinctCounter, LruTable, window_start

MAX_USERS_PER_KEY = 256


class _Logins:
    __slots__ = ("users", "attempts", "failures", "per_user")

    def __init__(self) -> None:
        self.users = DistinctCounter()
        self.attempts = 0
        self.failures = 0
        self.per_user: dict[int, int] = {}  # user hash -> failures (capped)

    def to_state(self) -> list[Any]:
        return [self.users.to_state(), self.attempts, self.failures, sorted(self.per_user.items())]

    @classmethod
    def from_state(cls, data: list[Any]) -> _Logins:
        logins = cls()
        logins.users = DistinctCounter.from_state(data[0])
        logins.attempts, logins.failures = data[1], data[2]
        logins.per_user = {int(k): int(v) for k, v in data[3]}
        return logins


class CredentialRule(Rule):
    """Both credential rules share one table; ``kind`` is set per hit."""

    kind = "credential_stuffing"
    severity = "high"
    title = "Credential stuffing: many user names tried from one client, mostly refused"
    brute_title = "Brute force: many passwords tried for one user name"

    def __init__(self, settings: DetectSettings, hasher: Hasher) -> None:
        super().__init__(settings, hasher)
        self.window = settings.login_window
        self.table: LruTable[tuple[str, str, str, float], _Logins] = LruTable(settings.max_window_keys)

    def observe(self, seen: Seen, sink: Sink) -> None:
        login = seen.login
        if login is None:
            return
        x = seen.x
        start = window_start(x.ts, self.window)
        key = (seen.actor.ip, x.host, seen.template, start)
        logins = self.table.setdefault(key, _Logins)
        logins.users.add(login.user_hash)
        logins.attempts += 1
        s = self.settings
        # The client address is the actor: the identity of a login request is the tried user.
        actor = ActorRef(ip=seen.actor.ip)
        if not login.failed:
            return
        logins.failures += 1
        if login.user_hash in logins.per_user or len(logins.per_user) < MAX_USERS_PER_KEY:
            logins.per_user[login.user_hash] = logins.per_user.get(login.user_hash, 0) + 1
        users = logins.users.count()
        if users >= s.stuffing_min_users and logins.failures >= s.stuffing_fail_share * logins.attempts:
            self._emit(seen, sink, actor, "credential_stuffing", self.title, {
                "user_names": users, "attempts": logins.attempts, "refused": logins.failures,
            })
        tries = logins.per_user.get(login.user_hash, 0)
        if tries >= s.brute_min_failures:
            self._emit(seen, sink, actor, "brute_force", self.brute_title, {
                "user": login.user_hint, "refused": tries, "attempts": logins.attempts,
            })

    def _emit(self, seen: Seen, sink: Sink, actor: ActorRef, kind: str, title: str, evidence: dict[str, Any]) -> None:
        from analyzer.detect.rules.base import Hit

        x = seen.x
        sink(Hit(kind, None, self.severity, title, actor, x.host, x.method, seen.template,
                 window_start(x.ts, self.window), self.window, x.ts, evidence))

    def expire(self, watermark: float, sink: Sink) -> None:
        for key, _ in self.table.items():
            if expired(key[3], self.window, watermark, self.settings.lateness):
                self.table.pop(key)

    def to_state(self) -> Any:
        return self.table.to_state(lambda v: v.to_state(), list)

    def load_state(self, data: Any) -> None:
        self.table = LruTable.from_state(
            data, self.settings.max_window_keys, _Logins.from_state, lambda k: (k[0], k[1], k[2], k[3])
        )
