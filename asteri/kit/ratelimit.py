"""Per-key rate limits over fixed windows: in-process, or shared through Redis.

Windows are fixed and aligned to the clock (a minute starts at :00, a day at 00:00 UTC), so
every process agrees on where a window begins without talking to the others. A request is
allowed only if every window has room for its cost; a refused request spends nothing (the
check and the increment are one step: a Lua script in Redis, no ``await`` in between in
process).

Redis unreachable → fail open: the request is served, no RateLimit fields are sent (the limiter
does not know where the caller stands), and a warning is logged at most once a minute. An outage
of the limiter must not take the API down; the database is still the real bottleneck.
"""

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

__all__ = [
    "Decision",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "Window",
    "WindowState",
    "build_rate_limiter",
]

log = logging.getLogger("asteri.ratelimit")

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Window:
    """A named fixed window: at most ``limit`` units per ``seconds``."""

    name: str
    seconds: int
    limit: int


@dataclass(frozen=True, slots=True)
class WindowState:
    name: str
    seconds: int
    limit: int
    remaining: int
    reset: int  # whole seconds until the window resets (at least 1)


@dataclass(frozen=True, slots=True)
class Decision:
    """``windows`` is empty when the limiter could not be asked (fail open)."""

    allowed: bool
    windows: tuple[WindowState, ...]
    refused: WindowState | None = None

    @property
    def tightest(self) -> WindowState | None:
        """The window to report: the refusing one, else the one with the least remaining."""
        if self.refused is not None:
            return self.refused
        if not self.windows:
            return None
        return min(self.windows, key=lambda w: (w.remaining, -w.reset))

    def headers(self) -> list[tuple[bytes, bytes]]:
        """IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers), plus Retry-After."""
        tightest = self.tightest
        if tightest is None:
            return []
        policy = ", ".join(f'"{w.name}";q={w.limit};w={w.seconds}' for w in self.windows)
        current = f'"{tightest.name}";r={tightest.remaining};t={tightest.reset}'
        headers = [(b"ratelimit-policy", policy.encode()), (b"ratelimit", current.encode())]
        if self.refused is not None:
            headers.append((b"retry-after", str(self.refused.reset).encode()))
        return headers


class RateLimiter(Protocol):
    async def hit(self, key_id: str, windows: Sequence[Window], cost: int = 1) -> Decision: ...

    async def aclose(self) -> None: ...


def _bounds(window: Window, now: float) -> tuple[int, int]:
    """(index of the current window, whole seconds until it ends, at least 1)."""
    index = int(now // window.seconds)
    return index, max(1, math.ceil((index + 1) * window.seconds - now))


def _decide(windows: Sequence[Window], counts: Sequence[int], resets: Sequence[int]) -> Decision:
    """``counts`` are after the hit if it was allowed, else unchanged."""
    states = tuple(
        WindowState(w.name, w.seconds, w.limit, max(0, w.limit - c), r)
        for w, c, r in zip(windows, counts, resets, strict=True)
    )
    return Decision(allowed=True, windows=states)


def _refuse(
    windows: Sequence[Window], counts: Sequence[int], resets: Sequence[int], cost: int
) -> Decision:
    states = _decide(windows, counts, resets).windows
    full = [s for s, c in zip(states, counts, strict=True) if c + cost > s.limit]
    # Retrying is useful only once every full window has reset: name the one that resets last.
    refused = max(full, key=lambda s: s.reset)
    return Decision(allowed=False, windows=states, refused=refused)


class MemoryRateLimiter:
    """One process's budget: the embedded default. Safe under one event loop because ``hit``
    never awaits between reading and writing a count."""

    def __init__(self, *, clock: Clock = time.time, sweep_every: float = 60.0) -> None:
        self._clock = clock
        # (key id, window name) → (window index, count, window length in seconds)
        self._counts: dict[tuple[str, str], tuple[int, int, int]] = {}
        self._sweep_every = sweep_every
        self._next_sweep = clock() + sweep_every

    async def hit(self, key_id: str, windows: Sequence[Window], cost: int = 1) -> Decision:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        bounds = [_bounds(w, now) for w in windows]
        counts = []
        for window, (index, _) in zip(windows, bounds, strict=True):
            stored = self._counts.get((key_id, window.name))
            counts.append(stored[1] if stored is not None and stored[0] == index else 0)
        resets = [reset for _, reset in bounds]
        if any(c + cost > w.limit for w, c in zip(windows, counts, strict=True)):
            return _refuse(windows, counts, resets, cost)
        for i, (window, (index, _)) in enumerate(zip(windows, bounds, strict=True)):
            counts[i] += cost
            self._counts[(key_id, window.name)] = (index, counts[i], window.seconds)
        return _decide(windows, counts, resets)

    def _sweep(self, now: float) -> None:
        """Drop windows that have ended: memory stays bounded by the keys seen within a day."""
        self._next_sweep = now + self._sweep_every
        stale = [
            slot
            for slot, (index, _, seconds) in self._counts.items()
            if index < int(now // seconds)
        ]
        for slot in stale:
            del self._counts[slot]

    def __len__(self) -> int:
        return len(self._counts)

    async def aclose(self) -> None:
        self._counts.clear()


# KEYS: one counter per window. ARGV: cost, then limit and ttl (seconds) per window.
# Returns {allowed (0/1), count per window (after the hit if allowed, else unchanged)}.
_LUA = """
local cost = tonumber(ARGV[1])
local counts = {}
local allowed = 1
for i = 1, #KEYS do
  counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if counts[i] + cost > tonumber(ARGV[2 * i]) then allowed = 0 end
end
if allowed == 1 then
  for i = 1, #KEYS do
    counts[i] = redis.call('INCRBY', KEYS[i], cost)
    if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[2 * i + 1]) end
  end
end
table.insert(counts, 1, allowed)
return counts
"""


class RedisRateLimiter:
    """One budget shared by every process that points at the same Redis and prefix.

    Keys: ``{prefix}rl:{<key id>}:<window>:<window index>`` (the braces are a Redis Cluster hash
    tag, so one key's windows live in one slot and the script may touch them all). Each expires
    a second after its window ends.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "asteri:",
        clock: Clock = time.time,
        timeout: float = 0.5,
        backoff: float = 1.0,
    ) -> None:
        # No retries: a down Redis must cost a request one refused connection, not seconds.
        self._client = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._client.register_script(_LUA)
        self._prefix = prefix
        self._clock = clock
        self._backoff = backoff
        self._skip_until = 0.0  # after a failure, do not ask Redis again for ``backoff`` s
        self._warned_at = -math.inf

    async def hit(self, key_id: str, windows: Sequence[Window], cost: int = 1) -> Decision:
        now = self._clock()
        if now < self._skip_until:
            return Decision(allowed=True, windows=())
        bounds = [_bounds(w, now) for w in windows]
        keys = [
            f"{self._prefix}rl:{{{key_id}}}:{w.name}:{index}"
            for w, (index, _) in zip(windows, bounds, strict=True)
        ]
        args: list[int] = [cost]
        for window, (_, reset) in zip(windows, bounds, strict=True):
            args += [window.limit, reset + 1]
        try:
            reply = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as error:
            self._unavailable(now, error)
            return Decision(allowed=True, windows=())
        allowed, *counts = (int(v) for v in reply)
        resets = [reset for _, reset in bounds]
        if not allowed:
            return _refuse(windows, counts, resets, cost)
        return _decide(windows, counts, resets)

    def _unavailable(self, now: float, error: Exception) -> None:
        self._skip_until = now + self._backoff
        if now - self._warned_at >= 60:
            self._warned_at = now
            log.warning("rate limiter unavailable, serving without limits (fail open): %s", error)

    async def aclose(self) -> None:
        await self._client.aclose()


def build_rate_limiter(redis_url: str | None, *, prefix: str = "asteri:") -> RateLimiter:
    """Redis when a URL is configured (several processes, one budget), else in-process."""
    if redis_url:
        return RedisRateLimiter(redis_url, prefix=prefix)
    return MemoryRateLimiter()
