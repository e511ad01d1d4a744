"""Redis stores: for sites that run on several machines. ``pip install asgi-sessionsync[redis]``.

Selected by ``SESSIONSYNC_STORE=redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=NAME]``
(``rediss://`` for TLS). Needs Redis 7.0 or newer and an asyncio event loop (redis-py's
asyncio client). Query options: ``prefix`` (default ``sessionsync``) names this site's
keys, so that several sites can share one server, never one prefix; ``retention``
(seconds, default 30 days) is how long ended sessions and finished messages are kept;
``outage_grace`` (seconds, default 60; 0 never) how long a session read from Redis may be
answered from this process's cache while the server does not answer; any connection
option redis-py's ``from_url`` knows (``socket_timeout``, default 5 s, …) passes on.
While the server does not answer, every call fails at once with ``StoreUnavailable`` but
for one a second that tries (``Availability``, ``fail_fast``).
Each process keeps a pool of ``max_connections`` (default 64); a call waits up to
``timeout`` seconds (default 10) for a free one instead of failing.

**Atomicity.** Everything that must not race is one server-side Lua script: creating a
session or a user (only if new), ending sessions (one, a user's, a chain's, the
expired ones: each check-and-end is one step, so none escapes a concurrent end),
claiming outbox messages (the lease), and the outbox's status changes. A replay id is
one ``SET NX PXAT``.

**Expiry.** Nothing grows without bound, purge or no purge: a session row lives until
``expires_at + retention`` (active, with a lifetime) or ``ended_at + retention``
(ended) and is then dropped by Redis; finished messages likewise from ``finished_at``;
replay ids at their own expiry. Index entries of dropped rows are swept a few at a
time by later writes, and wholesale by the ``purge`` methods.

**Revocation without a round trip per request.** ``sessions.get`` is answered from a
small per-process cache of *active* records. Every script that ends sessions publishes
their sids on the channel ``{prefix}:ended-sessions`` in the same atomic step; each process
listens and drops them from its cache, so an end is seen everywhere within a pub/sub
delivery. The cache is only used while the subscription is confirmed: it is emptied
whenever the subscription is lost or made again (messages may have been missed), a
connection that answers no PING for 10 s counts as lost, and no entry is older than
``cache_seconds`` (default 30; 0 turns the cache off).

**Keys, Sentinel and Cluster.** Every key starts with the hash tag ``{prefix}``:
``{prefix}:s:<sid>`` (a session hash), ``{prefix}:us:<email>``, ``{prefix}:ch:<chain>``
and ``{prefix}:ref:<app_ref>`` (a user's, a chain's and an app login's sessions),
``{prefix}:all``/``:exp``/``:ended`` (sessions by creation, lifetime end and end),
``{prefix}:ip:<address>`` (an address's sessions, by creation) and ``{prefix}:seen`` (the
active sessions by last request), ``{prefix}:indexes`` (the version of the indexes the data
carries: data written before the last two existed is indexed once, by the first query that
needs them), ``{prefix}:user:<email>``, ``{prefix}:j:<hex id>``, ``{prefix}:m:<id>``, ``{prefix}:due``,
``{prefix}:pq:<peer>``, ``{prefix}:fin``.

Note: one tag per prefix puts a whole site's data in one hash slot, so one user's
data (and everything else of the site) shares a slot and every script is valid on
Redis Cluster, where a script may only touch keys of one slot. The price is that a
site's data is not spread over the cluster's shards; sites spread instead, one prefix
each. A site's sessions are small (hundreds of bytes each) and one Redis node serves
well over 100 000 operations a second, so one slot per site is the trade taken; a
shard per user would make ``list()``, ``expire()`` and ``end_chain_except()`` scatter.
**Governance queries.** ``idle`` reads the last-seen index up to its cut-off: O(idle
sessions), not O(sessions). ``search`` reads the user's index, or the address's, or (active
only, no ``since``) the last-seen index, which holds exactly the active sessions; with
nothing to narrow it, every session newest first, stopping at ``since``. ``analytics``
reads the sessions created since the period's first day (``:all`` by score), ended since
then (``:ended``) and active now (``:seen``), each once, in pipelined batches of 500: its
cost grows with the period's sessions plus the active ones, not with the retained history,
and it stops at ``SessionStats.MAX_ROWS`` (200 000 rows, saying so) where SQLite reads
its daily counts. Keeping the indexes costs a ``ZADD`` in the once-a-minute touch and
a ``ZREM`` when a session ends, inside the scripts that already run. During a rolling
upgrade, a session that a process of an older version creates after the indexing is
missing from the two new indexes until a new process touches it: the idle pass does not
see it (its next request still ends it when idle, and its lifetime still ends it), and
entries an older process leaves behind when it ends a session are dropped by the next
idle pass.

For Sentinel or Cluster, make the client yourself and pass it:
``redis_stores(client=Sentinel([...]).master_for("mymaster", decode_responses=True))``
or a ``redis.asyncio.RedisCluster`` (``decode_responses=True`` in every case).

Modules: :mod:`~.urls` (the store URL), :mod:`~.connection` (client, key names, Lua
helpers), :mod:`~.users`, :mod:`~.sessions` (with :mod:`~.records` and :mod:`~.cache`),
:mod:`~.replay`, :mod:`~.outbox`; each store's scripts sit beside the class that runs them.
Every name is importable from ``asgi_sessionsync.stores.redis`` as before.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from asgi_sessionsync.stores.base import Stores
from asgi_sessionsync.stores.redis.activity import DEFAULT_MAX_ENTRIES, RedisActivityLog
from asgi_sessionsync.stores.redis.cache import ActiveSessionCache, logger
from asgi_sessionsync.stores.redis.connection import (
    DEFAULT_OUTAGE_GRACE,
    DEFAULT_PREFIX,
    DEFAULT_RETENTION,
    EXAMPLE,
    RedisConnection,
)
from asgi_sessionsync.stores.redis.event_counts import RedisEventCounts
from asgi_sessionsync.stores.redis.outbox import RedisOutbox
from asgi_sessionsync.stores.redis.replay import RedisReplayCache
from asgi_sessionsync.stores.redis.sessions import RedisSessionRegistry
from asgi_sessionsync.stores.redis.urls import _split, check_redis_url
from asgi_sessionsync.stores.redis.users import RedisUserStore
from asgi_sessionsync.stores.redis.verified import RedisVerifiedStore
from asgi_sessionsync.urls import redact

__all__ = [
    "DEFAULT_OUTAGE_GRACE",
    "DEFAULT_PREFIX",
    "DEFAULT_RETENTION",
    "EXAMPLE",
    "ActiveSessionCache",
    "RedisActivityLog",
    "RedisConnection",
    "RedisEventCounts",
    "RedisOutbox",
    "RedisReplayCache",
    "RedisSessionRegistry",
    "RedisUserStore",
    "check_redis_url",
    "logger",
    "open_redis_url",
    "redis_stores",
]


POOL_SIZE = 64  # connections per process and store
POOL_WAIT = 10.0  # seconds a call waits for a free connection before it fails


def open_redis_url(url: str, variable: str = "SESSIONSYNC_STORE") -> Stores:
    client_url, prefix, retention, grace = _split(url, variable)
    return redis_stores(client_url, prefix=prefix, retention=retention, outage_grace=grace)


def redis_stores(
    url: str = "redis://localhost:6379/0",
    *,
    prefix: str = DEFAULT_PREFIX,
    retention: float = DEFAULT_RETENTION,
    cache_seconds: float = 30.0,
    client: Redis | None = None,
    activity_max: int = DEFAULT_MAX_ENTRIES,
    outage_grace: float = DEFAULT_OUTAGE_GRACE,
) -> Stores:
    """Stores on a Redis server: ``url`` for redis-py (no ``prefix``/``retention``/
    ``outage_grace`` options here: pass them as arguments), or a ``client`` made with
    ``decode_responses=True`` (Sentinel, Cluster). Connects on first use. The activity
    log keeps at most ``activity_max`` entries (the oldest go first). While the server
    does not answer, a session this process read from it at most ``outage_grace``
    seconds before (and whose end it has not heard of) is answered from the cache."""
    if client is None:
        # A request waits for a free connection (up to POOL_WAIT seconds) rather than
        # failing: redis-py's default pool raises "Too many connections" past 100, which
        # a burst of concurrent sign-ins in one worker reaches. ``max_connections`` and
        # ``timeout`` in the URL's query override these.
        pool = BlockingConnectionPool.from_url(url, decode_responses=True, max_connections=POOL_SIZE, timeout=POOL_WAIT)
        client = Redis.from_pool(pool)  # closing the client closes the pool
        shown_as = redact(url)
    else:
        shown_as = f"{type(client).__name__} client"
    conn = RedisConnection(client, prefix=prefix, retention=retention, shown_as=shown_as)
    return Stores(
        users=RedisUserStore(conn),
        sessions=RedisSessionRegistry(conn, cache_seconds=cache_seconds, outage_grace=outage_grace),
        replay=RedisReplayCache(conn),
        outbox=RedisOutbox(conn),
        activity=RedisActivityLog(conn, max_entries=activity_max),
        verified=RedisVerifiedStore(conn),
        counts=RedisEventCounts(conn),
        closer=conn,
        availability=conn.availability,
    )
