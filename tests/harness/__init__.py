"""The repository's harness for real processes: browsers, servers and a Redis server.

What the browser suite (``tests/e2e/``), the process tests and the benchmarks drive, kept
out of the installed package (which ships only the in-process kit,
:mod:`asgi_sessionsync.testing`): Debian paths, Playwright, Marionette, Selenium and
``trustme`` are this repository's business, not an application's. Importable from the
repository's root (``python -m pytest``, ``python -m benchmarks.…``); nothing here needs
pytest.

- :mod:`~.browsers`: Chromium by Playwright (:data:`~.browsers.CHROMIUM`,
  :class:`~.browsers.ChromiumTab`), the :class:`~.browsers.Tab` steps every browser has,
  :class:`~.browsers.Tls` certificates, :func:`~.browsers.missing`; it re-exports
  :mod:`~.firefox` (Firefox ESR over Marionette) and :mod:`~.webkit` (WebKitGTK over
  WebDriver and Selenium, under Xvfb), which share :mod:`~.webdriver`.
- :mod:`~.processes`: :func:`~.processes.free_ports`, :func:`~.processes.wait_until_answering`.
- :mod:`~.redis_server`: :func:`~.redis_server.start_redis_server`, a throwaway ``redis-server``.
- :mod:`~.env_site`: :func:`~.env_site.site_from_env`, a site configured by ``SESSIONSYNC_*``
  variables, and :func:`~.env_site.serve_site_from_env`, which serves it under uvicorn.
"""
