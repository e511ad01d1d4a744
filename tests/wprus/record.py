"""Records what a real WordPress running WP Remote Users Sync sends to a peer.

A stand-in peer on loopback (``python tests/wprus/record.py PORT OUT.jsonl``): every
request it gets is written as one JSON line (method, path, query, form body, answer).
It answers the plugin's token requests with a fresh token (``{"nonce", "expiry"}``, as
the plugin's own token endpoint does) and every action with an empty 200. Used to
record tests/wprus/transcripts (docs/wordpress.md); not part of the package.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

EXPIRY = 0


class Recorder(BaseHTTPRequestHandler):
    out = ""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("latin-1") if length else ""
        path = urlsplit(self.path)
        answer = ""
        if path.path.rstrip("/").endswith("/wprus/token"):
            # expiry 0: the plugin asks for a new token before each action (as this package answers)
            answer = json.dumps({"nonce": secrets.token_hex(16), "expiry": EXPIRY})
        record = {
            "method": self.command,
            "path": path.path,
            "query": path.query,
            "content_type": self.headers.get("content-type", ""),
            "user_agent": self.headers.get("user-agent", ""),
            # What a browser says of where the request comes from and what it is for.
            "headers": {
                k.lower(): v
                for k, v in self.headers.items()
                if k.lower() == "referer" or k.lower().startswith("sec-fetch-")
            },
            "body": body,
            "answer_status": 200,
            "answer": answer,
            "at": time.time(),
        }
        with open(self.out, "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
        data = answer.encode()
        self.send_response(200)
        self.send_header("content-type", "application/json" if answer else "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    Recorder.out = sys.argv[2]
    if len(sys.argv) > 3:  # "cached": the plugin's own expiry, so it reuses one token
        EXPIRY = int(time.time()) + 1800
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Recorder).serve_forever()
