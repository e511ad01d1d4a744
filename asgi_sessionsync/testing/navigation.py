"""The navigation engine of the test browser: one request after another along a redirect
chain, each with what a current Chromium sends (Fetch Metadata, ``Origin``, ``Referer``, cookies
by ``SameSite``)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Literal

import httpx

from asgi_sessionsync.pages import STORAGE_CHECK_META
from asgi_sessionsync.testing.cookies import _Context
from asgi_sessionsync.testing.sites import (
    _ACCEPT,
    _CONTEXT,
    _DEFAULT_REFERRER_POLICY,
    _FETCH_SITE_ORDER,
    _REDIRECTS,
    _SAFE_METHODS,
    FetchSite,
    _origin,
    _Page,
    _page,
    _referer,
    _referrer_policy,
    fetch_site,
    same_site,
)

_Kind = Literal["document", "iframe", "subresource"]


async def navigate(
    client: httpx.AsyncClient,
    method: str,
    target: httpx.URL,
    *,
    kind: _Kind,
    page: _Page | None,
    headers: Mapping[str, str] | None,
    user_activated: bool,
    follow_redirects: bool,
    max_redirects: int,
    history: list[str],
    data: dict[str, str] | None = None,
    dest: str | None = None,
) -> httpx.Response:
    """Request ``target`` with ``client`` and follow its redirects (unless told not to),
    each request carrying what Chromium sends for a ``kind`` of load from ``page``; the
    URLs of a document navigation are appended to ``history``."""
    dest = dest or ("iframe" if kind == "iframe" else "document")
    mode = "no-cors" if kind == "subresource" else "navigate"
    policy = page.referrer_policy if page is not None else _DEFAULT_REFERRER_POLICY
    chain: list[httpx.URL] = []
    previous: list[httpx.Response] = []
    tainted = False  # redirected to another origin: a kept POST then says Origin: null
    while True:
        chain.append(target)
        if kind == "document":
            history.append(str(target))
        sent: dict[str, str] = {
            "accept": _ACCEPT.get(dest, "*/*"),
            "sec-fetch-site": _sec_fetch_site(chain, page),
            "sec-fetch-mode": mode,
            "sec-fetch-dest": dest,
        }
        if user_activated and kind != "subresource":
            sent["sec-fetch-user"] = "?1"
        if page is not None:
            referer = _referer(page.url, target, policy)
            if referer is not None:
                sent["referer"] = referer
        if method not in ("GET", "HEAD"):
            sent["origin"] = "null" if page is None or tainted else _origin(page.url)
        sent.update(headers or {})
        if kind == "document":
            cookies_same_site = page is None or same_site(page.url, target)
        else:
            assert page is not None
            cookies_same_site = same_site(page.url, target)
        context = _Context(cookies_same_site, kind == "document", method in _SAFE_METHODS)
        request = client.build_request(method, target, headers=sent, data=data, extensions={_CONTEXT: context})
        response = await client.send(request, follow_redirects=False)
        location = response.headers.get("location")
        if not follow_redirects or response.status_code not in _REDIRECTS or location is None:
            break
        if len(previous) >= max_redirects:
            raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request)
        following = target.join(location)
        if following.scheme not in ("http", "https"):
            break
        policy = _referrer_policy(response.headers.get("referrer-policy"), policy)
        if (response.status_code == 303 and method != "HEAD") or (
            response.status_code in (301, 302) and method == "POST"
        ):
            method, data = "GET", None
        tainted = tainted or _origin(following) != _origin(target)
        previous.append(response)
        target = following
    response.history = previous
    return response


def _sec_fetch_site(chain: list[httpx.URL], page: _Page | None) -> FetchSite:
    if page is None:
        return "none"
    values = [fetch_site(url, page.url) for url in chain]
    return max(values, key=_FETCH_SITE_ORDER.__getitem__)


def storage_check(response: httpx.Response) -> str | None:
    """Where a sign-in frame's storage check (``pages.frame_check_page``) goes on to when
    the frame has storage access; None for any other answer."""
    if "text/html" not in response.headers.get("content-type", ""):
        return None
    match = re.search(rf'<meta name="{STORAGE_CHECK_META}" content="([^"]*)">', response.text)
    return html.unescape(match.group(1)) if match else None


def _resolve(url: str | httpx.URL, page: _Page | None, params: Mapping[str, str] | None) -> httpx.URL:
    target = page.url.join(url) if page is not None else httpx.URL(url)
    return target.copy_merge_params(dict(params)) if params else target


# --- a network of sites ----------------------------------------------------------------


_CATCHUP = re.compile(r"\(function\(\)\{var go=(\"[^\"]*\"),probes=(\[.*?\]),done=false;")


async def run_catchup_page(client: httpx.AsyncClient, response: httpx.Response) -> httpx.URL | None:
    """What the first-visit catch-up's page (``pages.catchup_page``) does in a browser
    with JavaScript: ask each peer's ping as the page says (from the page's origin; a
    failure to connect is a peer out of reach, and with CORS an answer without the page's
    origin allowed too), then go on naming those. None when ``response`` is not that page."""
    if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
        return None
    found = _CATCHUP.search(response.text)
    if found is None:
        return None
    go, probes = json.loads(found.group(1)), json.loads(found.group(2))
    origin = _origin(response.url)
    away = []
    for peer_id, url, mode in probes:
        headers = {"origin": origin, "sec-fetch-mode": mode, "sec-fetch-dest": "empty", "sec-fetch-site": "cross-site"}
        try:
            answer = await client.get(url, headers=headers, follow_redirects=False)
        except httpx.HTTPError:
            away.append(peer_id)
            continue
        if mode == "cors" and (not answer.is_success or answer.headers.get("access-control-allow-origin") != origin):
            away.append(peer_id)  # not the peer's own answer (a proxy's page, say)
    return httpx.URL(go + ("&x=" + ".".join(away) if away else ""))


async def after_catchup_page(
    client: httpx.AsyncClient,
    response: httpx.Response,
    headers: Mapping[str, str] | None,
    max_redirects: int,
    history: list[str],
) -> httpx.Response:
    """``response``, or where the catch-up's page goes on when it is that page (by
    script, from itself: no user activation); the history holds both."""
    onward = await run_catchup_page(client, response)
    if onward is None:
        return response
    earlier = [*response.history, response]
    following = await navigate(
        client,
        "GET",
        onward,
        kind="document",
        page=_page(response),
        headers=headers,
        user_activated=False,
        follow_redirects=True,
        max_redirects=max_redirects,
        history=history,
    )
    following.history = earlier + following.history
    return following
