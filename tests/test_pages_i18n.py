"""The middleware's own pages in the user's language (#26): templates an app can replace,
gettext catalogues (English msgids, French shipped), the language chosen by
``Accept-Language`` with its q-values, ``Vary: Accept-Language``, every value escaped."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest

from asgi_sessionsync import i18n, templates
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.pages import code_page, error_page
from tests.sites import URLS, Browser, Sites, site_pair, three_sites

PACKAGE = Path(i18n.__file__).parent
DAMAGED = f"{URLS['b']}/_sessionsync/hop?e=not-an-envelope"  # a page every site answers (400)
FRENCH_NOT_VALID = "Ce lien de connexion n\u2019est pas valide"


async def test_a_french_browser_gets_the_french_page_and_the_answer_varies(sites: Sites) -> None:
    response = await Browser(sites[0]).get(DAMAGED, headers={"accept-language": "fr-CH, fr;q=0.9"})
    assert response.status_code == 400
    assert FRENCH_NOT_VALID in response.text and "Personne n\u2019a été connecté" in response.text
    assert '<html lang="fr">' in response.text and "This sign-in link" not in response.text
    assert "accept-language" in response.headers["vary"].lower()


@pytest.mark.parametrize(
    "header", [None, "de-DE, it;q=0.8", "fr;q=0, en;q=0.5", "en-GB, fr;q=0.9", "*;q=0.5", "fr;q=x"]
)
async def test_english_where_french_is_not_preferred(sites: Sites, header: str | None) -> None:
    headers = {"accept-language": header} if header is not None else None
    response = await Browser(sites[0]).get(DAMAGED, headers=headers)
    assert "This sign-in link is not valid" in response.text and '<html lang="en">' in response.text
    assert "accept-language" in response.headers["vary"].lower()


def test_q_values_choose_the_language() -> None:
    assert i18n.choose("en;q=0.5, fr;q=0.8") == "fr"
    assert i18n.choose("fr-CH, fr;q=0.9") == "fr"
    assert i18n.choose("en, fr") == "en"  # a tie: the header's order
    assert i18n.choose("fr;q=0") == "en"  # q=0: not acceptable
    assert i18n.choose("FR-ca;Q=1") == "fr"
    assert i18n.choose(b"\xff\xfe, ;;;,") == "en"


async def test_an_app_template_replaces_the_page_and_its_values_are_escaped(tmp_path: Path) -> None:
    (tmp_path / "error.html").write_text(
        '<!doctype html><html lang="$lang"><main class="house">$title — $message <a href="$link">$link_text</a></main>'
    )
    async with three_sites(template_dir=str(tmp_path)) as net:
        network, _ = site_pair(net)
        response = await Browser(network).get(DAMAGED, headers={"accept-language": "fr"})
        assert '<main class="house">' + FRENCH_NOT_VALID in response.text
        code = await Browser(network).get(f"{URLS['a']}/_sessionsync/hop?e=x")  # another site, same setting
        assert '<main class="house">' in code.text
    i18n.use(b"en", tmp_path)
    body = error_page("<script>alert(1)</script>", 'a "quoted" & <b>', link="/x?a=1&b=<2>").decode()
    assert "<script>" not in body and "&lt;script&gt;" in body and "&quot;quoted&quot; &amp; &lt;b&gt;" in body
    assert 'href="/x?a=1&amp;b=&lt;2&gt;"' in body
    i18n.use(None, None)


def test_a_template_with_an_unknown_placeholder_is_refused_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "code.html").write_text("<h1>$title</h1>$secret_key")
    assert templates.check(tmp_path) and "secret_key" in templates.check(tmp_path)[0]
    with pytest.raises(ConfigError, match="SESSIONSYNC_TEMPLATE_DIR"):
        three_sites(template_dir=str(tmp_path)).sites  # noqa: B018 (building the middleware is the point)
    assert templates.check(tmp_path / "missing") == [
        f"SESSIONSYNC_TEMPLATE_DIR: {tmp_path / 'missing'} is not a directory"
    ]


def test_the_code_page_escapes_the_address_and_translates_its_buttons() -> None:
    i18n.use(b"fr", None)
    try:
        body = code_page(
            action="/_sessionsync/verify",
            email='"><img src=x>@example.com',
            csrf="t",
            return_to="/",
            title="Enter your code",
            message="Codes last 15 minutes. Ask for a new code.",
            code_form=True,
            resend=True,
        ).decode()
    finally:
        i18n.use(None, None)
    assert "<img" not in body and "&quot;&gt;&lt;img" in body
    assert "Saisissez votre code" in body and "Vérifier" in body and "Continuer sans me connecter ici" in body


def _msgids() -> set[str]:
    """Every message the package marks for translation: the literal arguments of
    ``_(...)`` and ``N_(...)`` (the gettext convention) in its modules."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"_", "N_"}:
                [argument] = node.args
                assert isinstance(argument, ast.Constant) and isinstance(argument.value, str), path
                found.add(argument.value)
    return found


def test_no_untranslated_message_in_the_french_catalogue() -> None:
    msgids = _msgids()
    assert len(msgids) > 40  # the extraction sees the pages' messages
    french = gettext.translation(i18n.DOMAIN, i18n.LOCALE_DIR, languages=["fr"])
    missing = sorted(m for m in msgids if french.gettext(m) == m and m != "Code")  # "Code" is French too
    assert not missing, missing
    # The compiled catalogue is the .po source's (msgfmt -o asgi_sessionsync.mo asgi_sessionsync.po).
    po = (i18n.LOCALE_DIR / "fr" / "LC_MESSAGES" / "asgi_sessionsync.po").read_text(encoding="utf-8")
    sources = {ast.literal_eval(m) for m in re.findall(r'^msgid (".*")$', po, re.M)} - {""}
    assert sources == set(french._catalog) - {""}  # type: ignore[attr-defined]
    assert msgids <= sources  # (and nothing marked is left out of the .po)


def test_the_templates_hold_no_words_of_their_own() -> None:
    """All text comes from the catalogue: a word written into a template would never be translated."""
    for name in templates.NAMES:
        text = (templates.PACKAGE_DIR / name).read_text(encoding="utf-8")
        words = re.sub(r"<[^>]*>|\$\w+|\s|[—:;.,]", "", text)
        assert words == "", (name, words)
