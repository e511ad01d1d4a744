"""``verified mark|list|revoke``: the register of verified addresses, by hand (issue #26).

A mark is for an address and an issuer: ``--issuer`` names the peer whose sign-ins it
covers (repeatable), this site by default (its own logins, and what it vouches for to
its peers). See :mod:`asgi_sessionsync.verified_addresses`."""

from __future__ import annotations

import argparse
import dataclasses

import anyio

from asgi_sessionsync.cli.output import print_json, print_table, when
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.settings import Settings, site_id_of
from asgi_sessionsync.site import Site
from asgi_sessionsync.stores.verified import VerifiedBy
from asgi_sessionsync.validation import email_or_none


def _email(text: str) -> str:
    email = email_or_none(text)
    if email is None:
        raise argparse.ArgumentTypeError(f"not an email address: {text!r}")
    return email


def _days(text: str) -> float:
    days = float(text)
    if not 0 < days <= 3650:
        raise argparse.ArgumentTypeError("between 0 and 3650 days")
    return days


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    verified = commands.add_parser("verified", help="addresses verified (or marked not verified), per issuer")
    actions = verified.add_subparsers(dest="action", required=True)
    mark = actions.add_parser("mark", help="mark an address verified (or, with --not, not verified)")
    mark.add_argument("email", type=_email, metavar="EMAIL")
    mark.add_argument(
        "--issuer",
        action="append",
        default=[],
        metavar="URL",
        help="a peer whose sign-ins of the address this covers (repeatable; default: this site)",
    )
    mark.add_argument(
        "--not", dest="unverified", action="store_true", help="not verified: the issuer's word is not taken"
    )
    mark.add_argument("--days", type=_days, default=365.0, help="how long the mark lasts (default 365)")
    listed = actions.add_parser("list", help="list the marks in force")
    listed.add_argument("--email", type=_email, help="only this address's marks")
    listed.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    revoke = actions.add_parser("revoke", help="forget an address's marks (every issuer unless --issuer)")
    revoke.add_argument("email", type=_email, metavar="EMAIL")
    revoke.add_argument("--issuer", metavar="URL", help="only the mark for this issuer")


def verified_command(settings: Settings, args: argparse.Namespace) -> int:
    return anyio.run(_verified, settings, args)


def _issuer(site: Site, given: str) -> str:
    origin = site_id_of(given)
    if origin not in site.verified.issuers:
        known = ", ".join(site.verified.issuers)
        raise ConfigError("--issuer", f"{given} is neither this site nor one of its peers ({known})")
    return origin


async def _verified(settings: Settings, args: argparse.Namespace) -> int:
    site = Site.existing(settings)
    try:
        if args.action == "mark":
            for issuer in [_issuer(site, i) for i in args.issuer] or [site.site_id]:
                mark = await site.verified.mark(
                    args.email, issuer, verified=not args.unverified, by=VerifiedBy.OPERATOR, lasts=args.days * 86400
                )
                what = "not verified" if args.unverified else "verified"
                print(f"{mark.email} marked {what} for sign-ins from {issuer} until {when(mark.until)}")
            return 0
        if args.action == "revoke":
            only = _issuer(site, args.issuer) if args.issuer else None
            count = await site.verified.revoke(args.email, only)
            print(f"revoked {count} mark(s) of {args.email}" + (f" for {only}" if only else ""))
            return 0
        marks = await site.verified.register.list(args.email, limit=100_000)
        if args.format == "json":
            print_json([{**dataclasses.asdict(m), "by": str(m.by)} for m in marks])
            return 0
        print_table(
            ["email", "issuer", "verified", "by", "since", "until"],
            [[m.email, m.issuer, "yes" if m.verified else "NO", str(m.by), when(m.at), when(m.until)] for m in marks],
        )
        return 0
    finally:
        await site.aclose()
