"""Policy: the loaded session policy rule by rule, and what ``policy check`` says of it
(its own parts: :func:`~asgi_sessionsync.governance.admission.check_requirements` and
each rule set's ``describe``)."""

from __future__ import annotations

from starlette.responses import Response

import asgi_sessionsync.console.render as render
from asgi_sessionsync.console.context import Ctx
from asgi_sessionsync.exceptions import ConfigError
from asgi_sessionsync.governance.admission import check_requirements


async def policy(ctx: Ctx) -> Response:
    settings = ctx.site.settings
    e = render.escape
    loaded = settings.governance.policy
    if loaded is None:
        body = (
            '<p class="flash">No session policy (SESSIONSYNC_POLICY_FILE is not set): every sign-in is allowed, '
            "no idle timeout.</p>"
        )
        return ctx.page("Policy", body)
    try:
        check_requirements(settings)
        verdict = f'<p class="flash">policy is valid: <code>{e(str(loaded.source))}</code></p>'
    except ConfigError as error:
        verdict = f'<p class="alert">{e(str(error))}</p>'
    parts = [
        verdict,
        '<p class="muted">Limits count sign-ins (one sign-in synced to many sites is one), as this site\'s registry '
        "sees them.</p>",
    ]
    for name, rules in loaded.all():
        heading = name if name == "defaults" else "roles." + name
        parts.append(
            f"<h2>[{e(heading)}]</h2>" + render.table(("rule", "value"), [[e(k), e(v)] for k, v in rules.describe()])
        )
    return ctx.page("Policy", "".join(parts))


POLICY_ROUTES = (("policy", ("GET",), policy),)
