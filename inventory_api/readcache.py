"""A bounded per-process cache of catalog reads (ASGI, in front of routing).

During ingest twenty dashboards asking the same few pages would each run the same queries; this
answers a repeated ``GET`` of a catalog route from memory for at most ``ttl`` seconds
(``ApiSettings.response_cache_seconds``).

- Keyed by (role, path, raw query string): an entry is only ever served to the role it was made
  for (viewers get masked samples, analysts do not). The key must be one verified within the key
  cache's TTL (:mod:`inventory_api.keycache`); anything else (no key, unknown, ambiguous, a role
  without ``read``) goes through the application and its checks as usual.
- Only ``200 application/json`` answers of the routes in :data:`CACHED` are kept.
- Invalidation: every non-GET request handled by this process (annotations, spec imports, key
  and integration changes) bumps a generation that empties the cache, so this process's writes
  are read back at once; writes by other processes (another worker, ``apicensus analyze``) show
  within ``ttl``. Ingested batches (:data:`STREAMED`) are such writes too: a sensor posts them
  back to back, and emptying the cache for each one left it empty for as long as ingest ran (30%
  of 20 readers' reads missed, p95 340 ms); they show within ``ttl``. So do verdict refreshes
  (every 5 s during ingest, by the ingest child): :meth:`ResponseCache.refresh_all` has each entry
  re-read on its next hit instead of emptying the cache under every reader at once.
- Concurrent identical misses make the read once: the others wait for its answer.
- Refresh ahead: a hit on an entry past :data:`REFRESH_AT` of its TTL starts one background read
  of the same request and is answered from the entry meanwhile, so a page read more often than
  its TTL never expires under its readers: none of them waits for its queries (a miss cost 20
  readers 18-110 ms at p50 on the shared 2-core machine; ~5% of reads were misses, right at p95).
  No answer is older than ``ttl`` (the entry is served only until it expires), and the refresh is
  the reader's own request again (its key, checks and role), never a read nobody asked for.
- Bounded: at most ``max_entries`` entries and ``max_bytes`` bytes (LRU), none above ``max_entry_bytes``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import Headers

from inventory_api.deps import presented_secret
from inventory_api.keycache import KeyCache
from inventory_api.security import ROLE_PERMISSIONS, Permission, Role

CACHED = re.compile(r"^/api/v1/(?:endpoints|services|findings)(?:/[0-9]{1,10})?$")
# Writes that arrive as a continuous stream: shown within the TTL instead of emptying the cache.
STREAMED = frozenset({"/api/v1/ingest"})
# An entry this far into its TTL is re-read in the background on its next hit: late enough not to
# multiply the queries (a hot page is read ~1.33 times per TTL instead of once), early enough for the
# read to finish before the entry expires.
REFRESH_AT = 0.75


@dataclass(frozen=True, slots=True)
class _Entry:
    expires: float
    generation: int
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    refresh_after: float = float("inf")  # time.monotonic() from which a hit refreshes it
    made: float = 0.0  # time.monotonic() when its read began


class ResponseCache:
    def __init__(
        self, *, ttl: float, max_entries: int = 1024, max_bytes: int = 32 << 20, max_entry_bytes: int = 1 << 20
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self.generation = 0
        self.hits = 0
        self.misses = 0
        self.refreshes = 0
        self.stale_before = float("-inf")  # entries whose read began earlier refresh on their next hit
        self._entries: OrderedDict[tuple[str, str, bytes], _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()
            self._bytes = 0

    def refresh_all(self) -> None:
        """The inventory changed elsewhere: every entry is re-read on its next hit (served until then,
        within its TTL as always)."""
        with self._lock:
            self.stale_before = time.monotonic()

    def due(self, entry: _Entry) -> bool:
        """Whether a hit on ``entry`` should refresh it."""
        return entry.made < self.stale_before or entry.refresh_after <= time.monotonic()

    def get(self, key: tuple[str, str, bytes]) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.generation != self.generation or entry.expires <= time.monotonic():
                if entry is not None:
                    self._drop(key)
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: tuple[str, str, bytes], entry: _Entry) -> None:
        if len(entry.body) > self.max_entry_bytes:
            return
        with self._lock:
            if entry.generation != self.generation:  # a write finished while this was read
                return
            if key in self._entries:
                self._drop(key)
            self._entries[key] = entry
            self._bytes += len(entry.body)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple[str, str, bytes]) -> None:
        self._bytes -= len(self._entries.pop(key).body)

    def __len__(self) -> int:
        return len(self._entries)


class CacheReads:
    """ASGI middleware serving :class:`ResponseCache`; see the module docstring."""

    def __init__(self, app: Any, cache: ResponseCache, keys: KeyCache) -> None:
        self.app = app
        self.cache = cache
        self.keys = keys
        # Reads being made now, by key: at most one per request in progress or refresh.
        self._in_flight: dict[tuple[str, str, bytes], asyncio.Future[_Entry | None]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()  # referenced until done

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.cache.ttl <= 0:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "GET" and scope.get("path", "") in STREAMED:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "GET":
            self.cache.invalidate()  # before (no read made meanwhile is kept) and after (none before)
            try:
                await self.app(scope, receive, send)
            finally:
                self.cache.invalidate()
            return
        key = self._key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        entry = self.cache.get(key)
        if entry is None and (leader := self._in_flight.get(key)) is not None:
            # The same read is being made: wait for it rather than repeat its queries.
            entry = await asyncio.shield(leader)
        if entry is not None:
            if self.cache.due(entry) and key not in self._in_flight:
                self._refresh(key, scope)
            await send({"type": "http.response.start", "status": entry.status, "headers": entry.headers})
            await send({"type": "http.response.body", "body": entry.body})
            return
        done: asyncio.Future[_Entry | None] = asyncio.get_running_loop().create_future()
        self._in_flight.setdefault(key, done)
        try:
            await self._answer(key, scope, receive, send, done)
        finally:
            if self._in_flight.get(key) is done:
                del self._in_flight[key]
            if not done.done():
                done.set_result(None)  # the followers make the read themselves

    def _refresh(self, key: tuple[str, str, bytes], scope: Any) -> None:
        """This request again, in the background: its answer replaces the entry (a follower of a
        miss meanwhile awaits it, as it would a reader's)."""
        done: asyncio.Future[_Entry | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = done
        self.cache.refreshes += 1
        # Its own copy: the application writes per-request state into the scope.
        scope = {**scope, "state": dict(scope.get("state") or {})}
        asked = False

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if asked:  # nobody waits for this answer: the "client" leaves once it is made
                return {"type": "http.disconnect"}
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}

        async def discard(_message: Any) -> None:
            return None

        async def run() -> None:
            try:
                await self._answer(key, scope, receive, discard, done)
            except Exception:  # noqa: BLE001 - the entry expires as if never refreshed; readers re-read
                logging.getLogger("apicensus.inventory").warning("read cache refresh failed", exc_info=True)
            finally:
                if self._in_flight.get(key) is done:
                    del self._in_flight[key]
                if not done.done():
                    done.set_result(None)

        task = asyncio.get_running_loop().create_task(run())
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _answer(
        self, key: tuple[str, str, bytes], scope: Any, receive: Any, send: Any, done: asyncio.Future[_Entry | None]
    ) -> None:
        generation, began = self.cache.generation, time.monotonic()
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body" and start.get("status") == 200:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    headers = [(bytes(k).lower(), bytes(v)) for k, v in start.get("headers", [])]
                    if (b"content-type", b"application/json") in headers and not any(
                        k == b"set-cookie" for k, _ in headers
                    ):
                        body = b"".join(chunks)
                        ttl, now = self.cache.ttl, time.monotonic()
                        entry = _Entry(now + ttl, generation, 200, headers, body, now + REFRESH_AT * ttl, began)
                        self.cache.put(key, entry)
                        if entry.generation == self.cache.generation and not done.done():
                            done.set_result(entry)
            await send(message)

        await self.app(scope, receive, capture)

    def _key(self, scope: Any) -> tuple[str, str, bytes] | None:
        path = scope.get("path", "")
        if not CACHED.match(path):
            return None
        try:
            secret = presented_secret(Headers(scope=scope))
        except HTTPException:
            return None
        known = self.keys.get(secret)
        if known is None:
            return None
        try:
            role = Role(known.role)
        except ValueError:
            return None
        if Permission.READ not in ROLE_PERMISSIONS[role]:
            return None
        return role.value, path, bytes(scope.get("query_string", b""))
