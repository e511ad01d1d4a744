"""A POST's fields, read with a size limit: ``application/x-www-form-urlencoded`` by
:func:`urllib.parse.parse_qs`, ``multipart/form-data`` (the import's upload) by the
standard library's MIME parser. No form library needed."""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import anyio.to_thread
from starlette.requests import Request

MAX_FORM = 64 * 1024  # a form of fields
MAX_UPLOAD = 16 * 1024 * 1024  # an import's JSON Lines file


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


async def read_form(request: Request) -> Form | None:
    """The POST's fields, or None when its body is over the limit (the console answers 413)."""
    kind = request.headers.get("content-type", "")
    limit = MAX_UPLOAD if kind.startswith("multipart/form-data") else MAX_FORM
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    if kind.startswith("multipart/form-data"):  # up to 16 MiB to parse: off the event loop
        return await anyio.to_thread.run_sync(_multipart, kind, bytes(body))
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=200)
    return Form({name: values[0] for name, values in parsed.items()})


def _multipart(kind: str, body: bytes) -> Form:
    head = f"Content-Type: {kind}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    form = Form()
    if not message.is_multipart():
        return form
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            form.files[name] = data
        else:
            form.fields[name] = data.decode("utf-8", "replace")
    return form
