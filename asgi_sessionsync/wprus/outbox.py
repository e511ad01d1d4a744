"""This site's user changes sent to the WordPress sites, through the outbox.

One outbox message per WordPress site whose ``[wprus."…"]`` table sends the action (its
network column is :data:`NETWORK`, its payload the plugin's bundle, sealed at once with
that site's secrets, with the action for the activity log). The courier delivers it as
the plugin's remote sites do: a ``post`` token asked from ``<backchannel>/wprus/token/``,
then a form POST of ``wprusdata`` and ``token`` to ``<backchannel>/wprus/<endpoint>/``;
retried with back-off like any message. WordPress answers neither applied nor refused
(its own log says): a message is delivered when WordPress answered 2xx, and the activity
log says the outcome is unknown.

How this site's actions become the plugin's: ``create`` and ``update`` are its
``create`` and ``update`` (login name and email: this site's email; display name and
nickname: the name here; ``roles.set``: the role here when ``role`` is sent and the
role is in ``roles_sent``); ``role`` is an ``update`` carrying the role; ``password`` is its
``password`` with ``user_pass`` in **plain text** (the plugin's format), so it is sent
only for a password the app hands over in plain text (``set_password(...,
wordpress_password=…)``), never from a hash; ``delete`` is its ``delete`` (no
reassignment); ``meta`` its ``meta`` ``update`` of the allowed keys (a key removed here
is not sent).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from asgi_sessionsync.logs import SiteLog
from asgi_sessionsync.network_rules import NetworkRules
from asgi_sessionsync.protocol import UserAction
from asgi_sessionsync.stores import OutboxMessage, User, new_id
from asgi_sessionsync.stores.versions import META_PREFIX, Applied
from asgi_sessionsync.wprus.crypto import seal
from asgi_sessionsync.wprus.site_config import WprusSite, listed_as

if TYPE_CHECKING:
    from asgi_sessionsync.settings import Settings

NETWORK = "wordpress"  # the outbox's network column of a message to a WordPress site
KIND = "user"


def wordpress_messages(
    log: SiteLog,
    rules: NetworkRules,
    settings: Settings,
    action: UserAction,
    email: str,
    applied: Applied,
    plain_password: str | None = None,
) -> list[OutboxMessage]:
    """One message per WordPress site whose rules send ``action`` (as just applied here)."""
    ours = listed_as(settings.origin, settings.path_prefix)
    now, messages = time.time(), []
    for origin, site in rules.wprus:
        site_rules = rules.for_peer(origin)
        if not site_rules.sends(action):
            continue
        user = applied.user
        password = plain_password if site_rules.sends(UserAction.PASSWORD) else None
        built = _payload(action, email, user, password, site_rules.role_sent if site_rules.sends("role") else None)
        if built is None:
            if action is UserAction.PASSWORD:
                log.info("password of %s not sent to %s: only a password given in plain text is", email, origin)
            continue
        endpoint, data = built
        if action is UserAction.META:
            changed = [g.removeprefix(META_PREFIX) for g in applied.groups if g.startswith(META_PREFIX)]
            values = {k: (user.meta.get(k) if user else None) for k in changed if k in site_rules.meta_keys}
            data["update"] = {k: [{"meta_value": v, "prev_value": ""}] for k, v in values.items() if v is not None}
            if not data["update"]:
                continue
        bundle = seal({**data, "base_url": ours}, *site.secrets())
        payload = {"sub": email, "a": action.value, "wp": endpoint, "b": bundle}
        messages.append(
            OutboxMessage(
                id=new_id(),
                network=NETWORK,
                peer=origin,
                url=site.backchannel or site.url,
                kind=KIND,
                payload=payload,
                created_at=now,
                next_attempt_at=now,
            )
        )
    return messages


def _payload(
    action: UserAction, email: str, user: User | None, password: str | None, role_sent: Any
) -> tuple[str, dict[str, Any]] | None:
    if action is UserAction.DELETE:
        return "delete", {"username": email, "reassign_username": False}
    if action is UserAction.PASSWORD:
        return ("password", {"username": email, "user_pass": password}) if password else None
    if user is None:
        return None
    if action is UserAction.META:
        return "meta", {"username": email}
    profile: dict[str, Any] = {
        "username": email,
        "user_login": email,
        "user_email": email,
        "display_name": user.name or email,
        "nickname": user.name or email,
    }
    role = role_sent(user.role) if role_sent is not None else None
    if role:
        profile["roles"] = {"set": role, "add": False}
    if action is UserAction.CREATE and password:
        profile["user_pass"] = password
    if action is UserAction.ROLE and not role:
        return None
    return ("create" if action is UserAction.CREATE else "update"), profile


async def deliver(client: httpx.AsyncClient, site: WprusSite, message: OutboxMessage) -> str | None:
    """Send one message to its WordPress site; None when WordPress answered 2xx, else the error."""
    endpoint = str(message.payload.get("wp", ""))
    asked = seal({"action": endpoint, "method": "post", "base_url": site.url + "/"}, *site.secrets())
    try:
        answer = await client.post(site.server_url("token"), data={"wprusdata": asked})
        nonce = _nonce(answer)
        if nonce is None:
            return f"token request answered HTTP {answer.status_code} without a token"
        sent = await client.post(
            site.server_url(endpoint), data={"wprusdata": message.payload.get("b"), "token": nonce}
        )
    except httpx.HTTPError as error:
        return type(error).__name__
    return None if 200 <= sent.status_code < 300 else f"HTTP {sent.status_code}"


def _nonce(answer: httpx.Response) -> str | None:
    if answer.status_code != 200:
        return None
    try:
        data: Mapping[str, Any] = json.loads(answer.content)
    except ValueError:
        return None
    nonce = data.get("nonce") if isinstance(data, dict) else None
    return nonce if isinstance(nonce, str) and nonce else None
