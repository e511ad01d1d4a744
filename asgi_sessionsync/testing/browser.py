"""The test browser: a cookie-keeping client that behaves like a current Chromium for the protocol."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from types import TracebackType

import httpx

from asgi_sessionsync.testing.cookies import CookieJar, _HttpxJarView
from asgi_sessionsync.testing.navigation import _Kind, _resolve, after_catchup_page, navigate, storage_check
from asgi_sessionsync.testing.network import InProcessNetwork, _BrowserTransport
from asgi_sessionsync.testing.sites import _DEFAULT_REFERRER_POLICY, DEFAULT_CLIENT_IP, Page, _Page, _page


def hidden_fields(page: str | httpx.Response) -> dict[str, str]:
    """The hidden inputs of a page's forms (CSRF tokens and the like), by name."""
    text = page.text if isinstance(page, httpx.Response) else page
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", text):
        if re.search(r"""type=["']?hidden""", tag):
            name = re.search(r'name="([^"]*)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if name:
                fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    return fields


class _Tab:
    """What a tab of the :class:`Browser` loads: navigations, form posts, frames and
    subresources, each along its redirect chain (:func:`~.navigation.navigate`)."""

    client: httpx.AsyncClient
    max_redirects: int
    third_party_cookies: bool
    #: The URLs requested by the last top-level navigation, in order.
    history: list[str]

    # -- what a person does -------------------------------------------------------------

    async def get(
        self,
        url: str | httpx.URL,
        *,
        from_page: Page | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        user_activated: bool = True,
        follow_redirects: bool = True,
    ) -> httpx.Response:
        """Open ``url`` in the tab: typed (no ``from_page``) or a link followed on
        ``from_page``; ``user_activated=False`` for a script's or a meta refresh's
        navigation. ``headers`` are added to (and win over) every request of the chain."""
        page = _page(from_page) if from_page is not None else None
        target = _resolve(url, page, params)
        return await self._fetch(
            "GET",
            target,
            kind="document",
            page=page,
            headers=headers,
            user_activated=user_activated,
            follow_redirects=follow_redirects,
        )

    async def submit(
        self,
        url: str | httpx.URL,
        data: Mapping[str, str],
        *,
        from_page: Page | None = None,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> httpx.Response:
        """Submit a form (POST, urlencoded) found on ``from_page`` (default: a page at
        ``url`` itself, as a form posting to its own address)."""
        page = _page(from_page) if from_page is not None else None
        target = _resolve(url, page, None)
        return await self._fetch(
            "POST",
            target,
            kind="document",
            page=page or _Page(target, _DEFAULT_REFERRER_POLICY),
            data=dict(data),
            headers=headers,
            user_activated=True,
            follow_redirects=follow_redirects,
        )

    async def frame(
        self,
        url: str | httpx.URL,
        *,
        from_page: Page,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
        storage_access: bool | None = None,
    ) -> httpx.Response:
        """Load ``url`` in an ``<iframe>`` of ``from_page``: a navigation of the frame
        (``Sec-Fetch-Dest: iframe``, no user activation), with the cookies of a frame
        under that page (cross-site: third-party). A sign-in frame's storage check is
        answered with ``storage_access`` (default: as Chromium, ``third_party_cookies``);
        False plays Firefox's partitioned frames: the check page is returned."""
        page = _page(from_page)
        access = self.third_party_cookies if storage_access is None else storage_access
        target = _resolve(url, page, None)
        while True:
            response = await self._fetch(
                "GET", target, kind="iframe", page=page, headers=headers, user_activated=False,
                follow_redirects=follow_redirects,
            )  # fmt: skip
            onward = storage_check(response) if follow_redirects and access else None
            if onward is None:
                return response
            target = response.url.join(onward)

    async def subresource(
        self,
        url: str | httpx.URL,
        dest: str = "image",
        *,
        from_page: Page,
        headers: Mapping[str, str] | None = None,
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """Load ``url`` as an ``<img>`` (``dest``: or ``style``, ``script``, …) of
        ``from_page``: ``Sec-Fetch-Mode: no-cors``, cookies by ``SameSite``.

        A real ``<img>`` follows redirects; by default this stops at the first answer so
        that a test sees what the server said to an image request."""
        page = _page(from_page)
        return await self._fetch(
            "GET",
            _resolve(url, page, None),
            kind="subresource",
            dest=dest,
            page=page,
            headers=headers,
            user_activated=False,
            follow_redirects=follow_redirects,
        )

    async def _fetch(
        self,
        method: str,
        target: httpx.URL,
        *,
        kind: _Kind,
        page: _Page | None,
        headers: Mapping[str, str] | None,
        user_activated: bool,
        follow_redirects: bool,
        data: dict[str, str] | None = None,
        dest: str | None = None,
    ) -> httpx.Response:
        if kind == "document":
            self.history = []
        response = await navigate(
            self.client,
            method,
            target,
            kind=kind,
            page=page,
            headers=headers,
            user_activated=user_activated,
            follow_redirects=follow_redirects,
            max_redirects=self.max_redirects,
            history=self.history,
            data=data,
            dest=dest,
        )
        if kind == "document" and follow_redirects:  # the catch-up's page runs its script
            response = await after_catchup_page(self.client, response, headers, self.max_redirects, self.history)
        return response


class Browser(_Tab):
    """A cookie-keeping client that behaves like a current Chromium for the protocol.

    It follows redirects itself (up to ``max_redirects``) so that every request of a
    chain carries what the browser would send:

    - :meth:`get` is a top-level navigation: ``Sec-Fetch-Mode: navigate``,
      ``Sec-Fetch-Dest: document``, ``Sec-Fetch-User: ?1``, an HTML ``Accept``;
      ``Sec-Fetch-Site: none`` when the URL is typed (no ``from_page``), which holds
      along its whole redirect chain (Chromium, and the Fetch Metadata spec). From a
      page (a followed link) the value is the least same-site of the chain so far
      relative to that page: same-origin < same-site < cross-site.
    - :meth:`submit` posts a form from a page: ``Origin`` too, and 303 turns into GET.
    - :meth:`frame` navigates an ``<iframe>`` of a page (``Sec-Fetch-Dest: iframe``).
    - :meth:`subresource` is an ``<img>`` (or other no-cors load) of a page.

    Cookies follow ``SameSite`` as Chromium applies it: on a cross-site request,
    ``Strict`` cookies stay home, ``Lax`` ones go only with top-level GET navigations,
    ``None`` ones always (unless ``third_party_cookies`` is False, which keeps them out
    of cross-site frames and subresources, both ways). Whether a navigation is cross-
    site for cookies is judged between the initiating page and the current URL.
    Not modelled: the "Lax+POST" two-minute grace, partitioned cookies, the public
    suffix list (see :func:`registrable_domain`).

    ``client`` is an httpx client sharing this browser's cookies and address but
    sending only what it is given (no Fetch Metadata): for requests a browser would
    not make, or to look at one answer (``follow_redirects=False``). Its ``cookies``
    are a view of :attr:`cookies`. The ``Cookie`` header of every request, through
    ``client`` or not, comes from the jar (one given in ``headers`` is replaced).

    ``unreachable``: site names or hosts this browser cannot reach while the servers can
    (a proxy, a DNS failure, an ad-blocker): its requests there fail to connect. Like a
    browser with JavaScript, it runs the first-visit catch-up's page (it asks each peer,
    then goes on).
    """

    def __init__(
        self,
        network: InProcessNetwork,
        ip: str = DEFAULT_CLIENT_IP,
        urls: Mapping[str, str] | None = None,
        *,
        third_party_cookies: bool = True,
        max_redirects: int = 20,
        unreachable: Iterable[str] = (),
    ) -> None:
        self.network = network.from_ip(ip)
        self.urls: Mapping[str, str] = urls if urls is not None else network.urls
        self.cookies = CookieJar()
        self.third_party_cookies = third_party_cookies
        self.max_redirects = max_redirects
        #: The URLs requested by the last top-level navigation, in order.
        self.history: list[str] = []
        self.client = httpx.AsyncClient(
            transport=_BrowserTransport(self.network, self.cookies, third_party_cookies, unreachable),
            cookies=_HttpxJarView(self.cookies),
            follow_redirects=True,
            max_redirects=max_redirects,
        )

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    # -- the demo page contract ---------------------------------------------------------

    async def sign_in(self, site: str, email: str, password: str, next_path: str = "/") -> httpx.Response:
        """Open the site's ``/login`` form, fill it in (with its hidden fields) and submit
        it; returns the page the browser ends on."""
        form = await self.get(f"{self.urls[site]}/login")
        fields = hidden_fields(form.text)
        fields.update(email=email, password=password, next=next_path)
        return await self.submit(f"{self.urls[site]}/login", fields, from_page=form)

    async def sign_out(self, site: str) -> httpx.Response:
        """Open the site's home page and submit its ``/logout`` form."""
        page = await self.get(f"{self.urls[site]}/")
        return await self.submit(f"{self.urls[site]}/logout", hidden_fields(page.text), from_page=page)

    async def who(self, site: str) -> str | None:
        """Who the site's home page says is signed in ("Signed in as EMAIL"), or None
        ("Not signed in")."""
        text = (await self.get(f"{self.urls[site]}/")).text
        match = re.search(r"Signed in as ([^<]+)</h1>", text)
        if match:
            return match.group(1)
        assert "Not signed in" in text, text[:500]
        return None

    async def everyone(self) -> dict[str, str | None]:
        """:meth:`who` on every site, by name."""
        return {name: await self.who(name) for name in list(self.urls)}

    async def close(self) -> None:
        await self.client.aclose()
