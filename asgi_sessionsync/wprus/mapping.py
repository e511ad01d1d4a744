"""A WordPress user's fields, as the plugin sends them, as this site's user changes.

Users here are keyed by email; WordPress users by login name as well as email. A
``create`` or ``update`` carries both (``user_login``, ``user_email``): the user here is
the one with that email. The other actions carry only the login name (``username``): it
names a user here only when it is itself an email address (WordPress takes an email as a
login name); otherwise the action is refused, said in the log (docs/wordpress.md).

Each WordPress action becomes the changes of this site's own actions, so that
:class:`~asgi_sessionsync.trust.PeerTrust` decides each as for any peer: an ``update``
is an ``update`` (the display name), plus a ``role`` when it carries roles and a
``password`` when it carries a password, each accepted or refused on its own. A password
arrives in plain text (the plugin's format) and is hashed here with scrypt before
anything else sees it; it is never logged. WordPress has no versions: a change's
version is this site's clock when it arrived.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Mapping
from typing import Any

from asgi_sessionsync.exceptions import WprusRefused
from asgi_sessionsync.protocol import UserAction, UserActionPayload
from asgi_sessionsync.validation import email_or_none

_N, _R, _P = 2**14, 8, 1

Hasher = Callable[[str], str]


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (slow on purpose: call it off the event loop)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def email_of(data: Mapping[str, Any]) -> str:
    """The email of the user a payload is about; :class:`WprusRefused` when it names none."""
    for key in ("user_email", "username"):
        found = email_or_none(str(data.get(key) or ""))
        if found is not None:
            return found
    raise WprusRefused("the WordPress login name is not an email address and the message carries no email")


def _role(data: Mapping[str, Any]) -> str | None:
    roles = data.get("roles")
    if isinstance(roles, Mapping) and isinstance(roles.get("set"), str) and roles["set"]:
        return str(roles["set"])
    return None


def _meta(data: Mapping[str, Any]) -> dict[str, str | None]:
    meta: dict[str, str | None] = {}
    for change in ("add", "update", "delete"):
        entries = data.get(change)
        if not isinstance(entries, Mapping):
            continue
        for key, values in entries.items():
            if not isinstance(values, list) or not values or not isinstance(values[-1], Mapping):
                continue
            value = values[-1].get("meta_value")
            meta[str(key)] = None if change == "delete" else (value if isinstance(value, str) else str(value))
    return meta


def changes(action: str, data: Mapping[str, Any], version: int, hasher: Hasher) -> list[UserActionPayload]:
    """This site's changes for the plugin's ``action`` with payload ``data``."""
    password = data.get("user_pass")
    hashed = hasher(password) if isinstance(password, str) and password else None
    name = str(data.get("display_name") or "") or None
    if action == "create":
        return [UserActionPayload(UserAction.CREATE, version, name=name or "", role=_role(data), password_hash=hashed)]
    if action == "update":
        out = [UserActionPayload(UserAction.UPDATE, version, name=name or "")]
        if (role := _role(data)) is not None:
            out.append(UserActionPayload(UserAction.ROLE, version, role=role))
        if hashed is not None:
            out.append(UserActionPayload(UserAction.PASSWORD, version, password_hash=hashed))
        return out
    if action == "password":
        if hashed is None:
            raise WprusRefused("password action without a password")
        return [UserActionPayload(UserAction.PASSWORD, version, password_hash=hashed)]
    if action == "delete":
        return [UserActionPayload(UserAction.DELETE, version)]
    if action == "meta":
        return [UserActionPayload(UserAction.META, version, meta=_meta(data))]
    raise WprusRefused(f"{action} is not a user change")
