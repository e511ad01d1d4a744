"""What a WordPress site of the network file guarantees less than a native peer, in one
line for ``config check`` (docs/security.md, "WP Remote Users Sync")."""

from __future__ import annotations

from asgi_sessionsync.network_rules import PeerRules
from asgi_sessionsync.wprus.site_config import WprusSite


def weaker(site: WprusSite, rules: PeerRules, samesite: str = "none") -> str:
    """The weaker guarantees of ``site`` with ``rules``, as one line (``samesite``: this
    site's session cookie's)."""
    said = [
        "AES-256-CBC + HMAC-SHA256 bundles bound to no time, receiver or action (a captured one stays valid "
        "while the two keys do)",
        f"its own tokens may be used again for {site.token_expiry}s by the plugin (this site uses each of its "
        "tokens once)",
    ]
    if rules.accepts("password") or rules.sends("password") or rules.accepts("create") or rules.sends("create"):
        said.append("passwords travel in plain text inside the bundle")
    if rules.accepts("login") or rules.accepts("logout") or rules.sends("login") or rules.sends("logout"):
        said.append(
            "browser login/logout by hidden iframes need third-party cookies (its strict mode redirects the "
            "login; logout always needs them)"
        )
    if rules.accepts("login") and samesite != "none":
        said.append(
            f"its iframe logins are refused here (this site's session cookie is SameSite={samesite}, which a "
            "browser does not keep from an iframe): only its strict (redirect) mode signs in"
        )
    said.append(
        "login names: a login, logout, password, delete or meta names a user here only when the WordPress login "
        "name is an email (create/update go by user_email); others are refused, logged"
    )
    if any(rules.sends(a) for a in ("create", "update", "delete", "password", "role", "meta")):
        said.append("WordPress does not say whether a change it got was applied")
    if rules.sources is None:
        said.append("no sources: its server-to-server requests are taken from any address")
    return f"{site.origin}: " + "; ".join(said)
