"""The few bits of HTML the middleware writes: injected snippets and its own pages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path

from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.i18n import gettext as _
from asgi_sessionsync.i18n import gettext as translate  # (of a msgid kept in a constant: N_)
from asgi_sessionsync.templates import render

FRAME_TIMEOUT_MS = 3000
PROBE_TIMEOUT_MS = 3000  # how long the catch-up page waits for a peer's answer in the browser
MAX_PAGE_BYTES = 256 * 1024  # of a page a site gives (SESSIONSYNC_UNAVAILABLE_PAGE)


def _js(value: object) -> str:
    """A JSON literal safe inside an HTML <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _nonce_attr(nonce: str | None) -> str:
    return f' nonce="{escape(nonce)}"' if nonce else ""


def bounce_snippet(url: str) -> bytes:
    """Send the browser on the sign-in chain: no script needed, so no CSP can stop it."""
    target = escape(url)
    words = escape(_("Continue signing in on our other sites"))
    return (
        f'<meta http-equiv="refresh" content="0;url={target}">'
        f'<noscript><p><a href="{target}">{words}</a></p></noscript>'
    ).encode()


def frames_snippet(
    frame_urls: Sequence[str],
    *,
    peer_origins: Sequence[tuple[str, str]],
    nonce: str | None,
    bounce_url: str | None,
) -> bytes:
    """Hidden iframes that sign the user in on each peer (``peer_origins``: each peer's name
    and its origin); with ``bounce_url`` (auto mode)
    a script that listens for each frame's verdict and bounces through the peers whose
    cookie did not stick (or that did not answer in time)."""
    frames = "".join(
        f'<iframe src="{escape(u)}" hidden aria-hidden="true" tabindex="-1" title="" '
        f'style="display:none" referrerpolicy="no-referrer"></iframe>'
        for u in frame_urls
    )
    if bounce_url is None:
        return frames.encode()
    script = (
        "(function(){"
        f"var origins={_js(dict(peer_origins))},waiting=new Set(Object.keys(origins)),failed=[],done=false;"
        "function finish(){if(done)return;done=true;waiting.forEach(function(p){failed.push(p)});"
        f"if(failed.length)location.replace({_js(bounce_url)}+'&peers='+encodeURIComponent(failed.join(' ')));}}"
        # A frame names its site (two sub-folder sites share an origin); its message
        # counts only from that site's origin.
        "addEventListener('message',function(e){var d=e.data;"
        "if(!d||d.sessionsync!=='frame'||!waiting.has(d.peer)||origins[d.peer]!==e.origin)return;"
        "waiting.delete(d.peer);if(!d.ok)failed.push(d.peer);"
        "if(!waiting.size)finish();});"
        f"setTimeout(finish,{FRAME_TIMEOUT_MS});"
        "})();"
    )
    return f"{frames}<script{_nonce_attr(nonce)}>{script}</script>".encode()


STORAGE_CHECK_META = "sessionsync-continue"


def frame_check_page(*, continue_url: str, peer_origin: str, parent_origin: str, nonce: str) -> bytes:
    """The first page of a sign-in frame: go on only where this frame's cookies are the
    peer's own (first-party usable) ones.

    ``document.hasStorageAccess()`` is false in a frame whose cookies are blocked
    (Chromium with third-party cookies blocked, Safari/WebKit) and in one whose cookies
    are partitioned by the top-level site (Firefox's Total Cookie Protection): there a
    cookie set by the frame lands in a jar the peer's own pages never see. Such a frame
    reports failure at once (auto mode then bounces) and sets nothing, so it leaves no
    session behind. A browser without the API, or without JavaScript (the ``noscript``
    refresh), goes on as before."""
    failed = _js({"sessionsync": "frame", "peer": peer_origin, "ok": False, "partitioned": True})
    target = _js(continue_url)
    return (
        "<!doctype html><title>sessionsync</title>"
        f'<meta name="{STORAGE_CHECK_META}" content="{escape(continue_url)}">'
        f'<noscript><meta http-equiv="refresh" content="0;url={escape(continue_url)}"></noscript>'
        f'<script nonce="{escape(nonce)}">(function(){{'
        f"function go(){{location.replace({target})}}"
        f"function no(){{parent.postMessage({failed},{_js(parent_origin)});}}"
        "if(!document.hasStorageAccess){go();return;}"
        "document.hasStorageAccess().then(function(a){if(a)go();else no();},go);"
        "})();</script>"
    ).encode()


def frame_result_page(*, ok: bool, peer_origin: str, parent_origin: str, nonce: str) -> bytes:
    """The page inside a frame that tells its parent whether the cookie stuck."""
    message = _js({"sessionsync": "frame", "peer": peer_origin, "ok": ok})
    return (
        "<!doctype html><title>sessionsync</title>"
        f'<script nonce="{escape(nonce)}">parent.postMessage({message},{_js(parent_origin)});</script>'
    ).encode()


def error_page(title: str, message: str, *, link: str | None = None) -> bytes:
    """A short page: ``title`` and ``message`` (msgids, translated here) and a link on."""
    return render(
        "error.html",
        {
            "title": translate(title),
            "message": translate(message),
            "link": link or "/",
            "link_text": _("Continue") if link else _("Go to the home page"),
        },
    )


def refused_page(message: str) -> bytes:
    """The page a sign-in refused by the session policy gets instead of the app's answer
    (``message``: the policy's reason, translated where the catalogue has it)."""
    tail = _(
        "You have not been signed in. Sign out on another device, or ask the site's administrator, then try again."
    )
    return render(
        "error.html",
        {
            "title": _("Sign-in refused"),
            "message": f"{translate(message)} {tail}",
            "link": "/",
            "link_text": _("Go to the home page"),
        },
    )


def code_page(
    *,
    action: str,
    email: str,
    csrf: str,
    return_to: str,
    title: str,
    message: str,
    code_form: bool,
    resend: bool,
) -> bytes:
    """The page that asks for the code mailed to ``email``: a form for the code (when one
    is out), a button for a new code, and one to go on without signing in here. Every
    form posts to ``action`` with the CSRF token ``csrf`` (and ``return_to``, if any).
    ``title`` and ``message`` are msgids, translated here."""

    def form(button: str, value: str, extra: str = "") -> str:
        return (
            f'<form method="post" action="{escape(action)}">'
            f'<input type="hidden" name="t" value="{escape(csrf)}">'
            f'<input type="hidden" name="r" value="{escape(return_to)}">{extra}'
            f'<button type="submit" name="do" value="{value}">{escape(button)}</button></form>'
        )

    label = escape(_("Code"))
    code_field = (
        f'<p><label for="code">{label}</label> <input id="code" name="code" type="text" '
        'inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 -]*" maxlength="9" required autofocus></p>'
    )
    parts = []
    if code_form:
        parts.append(form(_("Verify"), "verify", code_field))
    if resend:
        parts.append(form(_("Send a new code"), "resend"))
    parts.append(form(_("Continue without signing in here"), "skip"))
    values = {"title": translate(title), "message": translate(message), "address_label": _("Address:"), "email": email}
    return render("code.html", values, {"forms": "".join(parts)})


def read_page_file(path: str, variable: str = "SESSIONSYNC_UNAVAILABLE_PAGE") -> bytes:
    """The HTML file a site gives for its 503 page, or ConfigError naming ``variable``."""
    file = Path(path)
    try:
        body = file.read_bytes()
    except OSError as error:
        raise ConfigError(variable, f"cannot read {file}: {error.strerror}", f"{variable}=/srv/site/503.html") from None
    if len(body) > MAX_PAGE_BYTES:
        raise ConfigError(variable, f"{file} is over {MAX_PAGE_BYTES // 1024} KiB", f"{variable}=/srv/site/503.html")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(variable, f"{file} is not UTF-8 text", f"{variable}=/srv/site/503.html") from None
    return body


# The catch-up page's script: ask each peer's ping (with CORS, only the peer's own answer
# counts, not a proxy's refusal page), then go on, naming those that did not answer in time.
_CATCHUP_SCRIPT = (
    "function on(away){if(done)return;done=true;location.replace(away.length?go+'&x='+away.join('.'):go);}"
    "try{var away=[],left=probes.length;"
    "if(!left||!window.fetch||!window.AbortController){on([]);return;}"
    "probes.forEach(function(p){var c=new AbortController(),t=setTimeout(function(){c.abort();},TIMEOUT);"
    "fetch(p[1],{mode:p[2],credentials:'omit',cache:'no-store',referrerPolicy:'no-referrer',signal:c.signal})"
    ".then(function(r){if(p[2]==='cors'&&!r.ok)away.push(p[0]);},function(){away.push(p[0]);})"
    ".then(function(){clearTimeout(t);if(--left===0)on(away);});});"
    "}catch(e){on([]);}})();"
).replace("TIMEOUT", str(PROBE_TIMEOUT_MS))


def catchup_page(go: str, probes: Sequence[tuple[str, str, str]], nonce: str) -> bytes:
    """The first step of a first-visit catch-up: a page of this site that asks, from the
    browser, whether each peer answers (``probes``: its id, its ping URL and the fetch
    mode: ``cors``, only the peer's own answer counts; ``no-cors`` for an older peer, any
    answer counts) and then goes on to ``go``, naming the peers
    it could not reach (``&x=id.id``: a DNS failure, a blocking proxy, an ad-blocker), so
    that the catch-up never sends the browser to a site it cannot open. Without
    JavaScript, a refresh to ``go`` at once; if the script cannot run (a CSP it does not
    pass), the timer's refresh; and a link meanwhile."""
    script = f"(function(){{var go={_js(go)},probes={_js([list(p) for p in probes])},done=false;{_CATCHUP_SCRIPT}"
    values = {
        "title": _("One moment"),
        "go": go,
        "refresh": str(PROBE_TIMEOUT_MS // 1000 + 5),
        "checking": _("Checking whether you are signed in on our other sites…"),
        "continue_text": _("Continue"),
    }
    return render("catchup.html", values, {"script": f"<script{_nonce_attr(nonce)}>{script}</script>"})
