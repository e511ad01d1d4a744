"""Networks from the environment: the default one (``SESSIONSYNC_SECRET_KEYS``, ``_PEERS``) and
the named ones of ``SESSIONSYNC_NETWORKS``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.keys import GENERATE_HINT, parse_secret
from asgi_sessionsync.settings.parsers import _list
from asgi_sessionsync.settings.values import PREFIX, Network, Peer, Secret


def _keys_var(network: str) -> str:
    return PREFIX + "SECRET_KEYS" if network == "default" else f"{PREFIX}NETWORK_{network.upper()}_SECRET_KEYS"


def _peers_var(network: str) -> str:
    return PREFIX + "PEERS" if network == "default" else f"{PREFIX}NETWORK_{network.upper()}_PEERS"


def _as_secret(value: str | bytes | Secret, variable: str) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, bytes):
        return Secret(parse_secret(value.decode("ascii", "replace"), variable=variable))
    return Secret(parse_secret(value, variable=variable))


def _as_peer(value: str | Peer, variable: str) -> Peer:
    return value if isinstance(value, Peer) else Peer.parse(value, variable)


def _network(name: str, keys: Sequence[Any] | str, peers: Sequence[Any] | str) -> Network:
    keys_var, peers_var = _keys_var(name), _peers_var(name)
    if isinstance(keys, str):
        keys = _list(keys_var, keys)
    if isinstance(peers, str):
        peers = _list(peers_var, peers)
    if not keys:
        raise ConfigError(keys_var, f"network {name!r} has no secret key; {GENERATE_HINT}")
    return Network(
        name=name,
        secret_keys=tuple(_as_secret(k, keys_var) for k in keys),
        peers=tuple(_as_peer(p, peers_var) for p in peers),
    )


def _networks(env: Mapping[str, str], overrides: dict[str, Any]) -> tuple[Network, ...]:
    if "networks" in overrides:
        networks = tuple(overrides.pop("networks"))
        if "secret_keys" in overrides or "peers" in overrides:
            raise TypeError("give either networks=... or secret_keys=/peers=, not both")
        return networks
    result: list[Network] = []
    keys = overrides.pop("secret_keys", env.get(PREFIX + "SECRET_KEYS", ""))
    peers = overrides.pop("peers", env.get(PREFIX + "PEERS", ""))
    if keys or peers:
        result.append(_network("default", keys, peers))
    for name in _list(PREFIX + "NETWORKS", env.get(PREFIX + "NETWORKS", "")):
        if not re.fullmatch(r"[A-Za-z0-9_]+", name) or name.lower() == "default":
            raise ConfigError(
                PREFIX + "NETWORKS", f"{name!r} is not a valid network name", f"{PREFIX}NETWORKS=partners"
            )
        result.append(_network(name.lower(), env.get(_keys_var(name), ""), env.get(_peers_var(name), "")))
    return tuple(result)
