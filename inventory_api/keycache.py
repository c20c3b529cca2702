"""A short-lived, bounded cache of verified API keys, so a read does not look its key up each time.

Entries are keyed by a keyed hash (HMAC-SHA256 under a per-process random secret) of the presented
key: the cache never holds a key, nor the stored hash a database dump would match. An entry lives
``ttl`` seconds (``ApiSettings.key_cache_seconds``): a key revoked by another process (``apicensus
keys revoke``) stops working within that time; one revoked in this process at once (every
revocation through ``crud.revoke_api_key`` bumps :data:`_EPOCH`, which empties every cache).
Failed lookups are never cached, so a new key works on its first request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

_PROCESS_SECRET = secrets.token_bytes(32)
_epoch_lock = threading.Lock()
_EPOCH = [0]  # revocations in this process


def revoked_here() -> None:
    """Called on every revocation in this process: every cached key is checked again."""
    with _epoch_lock:
        _EPOCH[0] += 1


@dataclass(frozen=True, slots=True)
class CachedKey:
    key_id: int
    role: str


class KeyCache:
    """LRU of at most ``size`` verified keys, each valid ``ttl`` seconds (``ttl <= 0``: off)."""

    def __init__(self, *, ttl: float, size: int = 1024) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[bytes, tuple[float, int, CachedKey]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _slot(secret: str) -> bytes:
        return hmac.new(_PROCESS_SECRET, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

    def get(self, secret: str) -> CachedKey | None:
        if self.ttl <= 0:
            return None
        slot = self._slot(secret)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None:
                return None
            expires, epoch, key = entry
            if expires <= now or epoch != _EPOCH[0]:
                del self._entries[slot]
                return None
            self._entries.move_to_end(slot)
            return key

    def put(self, secret: str, key: CachedKey, *, epoch: int) -> None:
        """Remember ``key`` as verified when the revocation epoch was ``epoch`` (read before the lookup)."""
        if self.ttl <= 0:
            return
        slot = self._slot(secret)
        with self._lock:
            self._entries[slot] = (time.monotonic() + self.ttl, epoch, key)
            self._entries.move_to_end(slot)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def current_epoch() -> int:
    return _EPOCH[0]
