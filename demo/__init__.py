"""The demo: three sites on a.localhost, b.localhost and c.localhost sharing one login."""
