"""Reading a TOML file named by a setting, with errors that name the setting."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from asgi_sessionsync.exceptions import ConfigError


def read_toml(path: str | Path, *, variable: str, what: str, example: str) -> dict[str, Any]:
    """The TOML document at ``path`` (a ``what``: "policy file", "network file"); a
    :class:`ConfigError` naming ``variable``, the problem and ``example`` when the file
    is missing, unreadable or not TOML."""
    file = Path(path)
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(variable, f"no {what} at {file}", example) from None
    except OSError as error:
        raise ConfigError(variable, f"cannot read {file}: {error.strerror}", example) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(variable, f"{file} is not valid TOML: {error}", example) from None
