from asgi_sessionsync.cli import main

raise SystemExit(main())
