"""Seal and open per purpose, and key-ring look-up with several keys.

Run: python -m benchmarks.envelopes
"""

from __future__ import annotations

from asgi_sessionsync.envelope import open_envelope, seal
from asgi_sessionsync.keys import Keychain, KeyRing, generate_secret, parse_secret
from asgi_sessionsync.protocol import Purpose
from benchmarks.timing import machine, per_call, us

A, B = "https://a.example.com", "https://b.example.com"
IP = "203.0.113.0/24"
# A typical login hop: the user, the chain id, a display name, the return URL, no next hop.
LOGIN = {"c": "Zm9vYmFyYmF6cXV4cXV1eHh4", "n": "Alice Liddell", "r": "https://a.example.com/account", "x": None}


def secret() -> bytes:
    return parse_secret(generate_secret(), variable="BENCH")


def main() -> None:
    ring = KeyRing([secret()])
    chain = Keychain([ring])
    print(f"Envelopes ({machine()}); median per call")
    print(f"{'purpose':<12} {'seal':>12} {'open':>12} {'chars':>6}")
    for purpose in Purpose:
        token = seal(ring, purpose, issuer=A, audience=B, subject="alice@example.com", ttl=30, ip=IP, extra=LOGIN)

        def do_seal(p: Purpose = purpose) -> str:
            return seal(ring, p, issuer=A, audience=B, subject="alice@example.com", ttl=30, ip=IP, extra=LOGIN)

        def do_open(p: Purpose = purpose, t: str = token) -> object:
            return open_envelope(chain, t, purpose=p, audience=B, ip=IP)

        print(f"{purpose.value:<12} {us(per_call(do_seal))} {us(per_call(do_open))} {len(token):>6}")

    print("\nKey-ring look-up: open an envelope sealed by the oldest of N keys in one network")
    for count in (1, 4, 16):
        keys = [secret() for _ in range(count)]
        old = seal(KeyRing([keys[-1]]), Purpose.SESSION, issuer=A, audience=A, subject="a", ttl=60, ip=IP)
        ring_n = Keychain([KeyRing(keys)])

        def open_old(t: str = old, c: Keychain = ring_n) -> object:
            return open_envelope(c, t, purpose=Purpose.SESSION, audience=A, ip=IP)

        print(f"  {count:>2} keys  open {us(per_call(open_old))}")


if __name__ == "__main__":
    main()
