"""WP Remote Users Sync: a WordPress site running that plugin as a peer of this site
(docs/wordpress.md; its wire format in docs/design.md, "WP Remote Users Sync").

``crypto.py`` the plugin's bundles; ``site_config.py`` a WordPress site as the network
file declares it; ``tokens.py`` the tokens this site issues, each used once;
``mapping.py`` a WordPress user's fields as this site's; ``incoming.py`` the plugin's
server-to-server requests answered here, ``browser.py`` its browser-side login and
logout, ``routes.py`` where they land; ``outgoing.py`` this site's logins and logouts
sent there by the browser, ``outbox.py`` its user changes sent through the outbox;
``guarantees.py`` what ``config check`` says of each WordPress site.
Only the leaf modules are re-exported here (the network file reads ``site_config``).
"""

from asgi_sessionsync.wprus.crypto import open_bundle, seal
from asgi_sessionsync.wprus.site_config import WprusSite

__all__ = ["WprusSite", "open_bundle", "seal"]
