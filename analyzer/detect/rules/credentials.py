"""credential_stuffing (many user names, mostly refused) and brute_force (one user, many tries).

Login endpoints are found by behaviour, not by name: a request carrying a user name and a
password (JSON or form fields, or Basic credentials) and an answer that accepts or refuses it.
Per client address, login endpoint and window: the distinct user names (keyed hashes), attempts,
refusals, and refusals per user name. A refusal is a 401/403 (or 400 with a password), and also a
2xx whose envelope says failure (``{"success": false}``) or, on an endpoint that redirects when it
accepts (a web form), a 2xx showing the form again. A shared NAT address logs many users in successfully; a
user mistyping a password three times stays far below ``brute_min_failures``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from analyzer.detect.context import Seen
from analyzer.detect.model import ActorRef
from analyzer.detect.rules.base import Hasher, Rule, Sink, envelope_failed, expired
from analyzer.detect.settings import DetectSettings
from analyzer.detect.windows import DistinctCounter, LruTable, window_start

MAX_USERS_PER_KEY = 256
MAX_LOGIN_ANSWER = 4096  # bytes of a 2xx login answer read for an envelope failure
# An answer handing out a token accepted the login, whatever else it says.
_TOKEN_KEYS = frozenset({"token", "access_token", "id_token", "session", "session_id", "jwt"})


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
        # (host, template) of login endpoints seen answering a redirect (web forms)
        self.redirects: LruTable[tuple[str, str], bool] = LruTable(settings.max_window_keys)

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
        if not (login.failed or self._refused(seen)):
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

    def _refused(self, seen: Seen) -> bool:
        """A login answered 2xx that still refused: the answer's envelope says so (``{"success":
        false}``, ``{"error": "invalid_grant"}``), or the endpoint redirects when it accepts (a web
        form: 302 on success, the form shown again with 200 on failure)."""
        x = seen.x
        status = x.status
        if status is None:
            return False
        endpoint = (x.host, seen.template)
        if 300 <= status < 400:
            if self.redirects.peek(endpoint) is None:
                self.redirects.setdefault(endpoint, bool)
            return False
        if not 200 <= status < 300:
            return False
        if self.redirects.peek(endpoint) is not None:
            return True
        body = seen.response_json
        if body is None and x.response_body and len(x.response_body) <= MAX_LOGIN_ANSWER:
            # (login answers are not parsed for the rules: they carry no identity yet)
            try:
                body = orjson.loads(x.response_body)
            except orjson.JSONDecodeError:
                return False
        if type(body) is not dict:
            return False
        return envelope_failed(replace(seen, response_json=body)) and not _TOKEN_KEYS & body.keys()

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
        return {"logins": self.table.to_state(lambda v: v.to_state(), list), "redirects": self.redirects.to_state(bool, list)}

    def load_state(self, data: Any) -> None:
        if isinstance(data, list):  # a state saved before redirecting endpoints were kept
            data = {"logins": data, "redirects": [0, []]}
        n = self.settings.max_window_keys
        self.table = LruTable.from_state(data["logins"], n, _Logins.from_state, lambda k: (k[0], k[1], k[2], k[3]))
        self.redirects = LruTable.from_state(data["redirects"], n, bool, lambda k: (k[0], k[1]))
