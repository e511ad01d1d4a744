"""Reading a TOML file named by a setting, with errors that name the setting."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from asgi_sessionsync.exceptions import ConfigError

MAX_DEPTH = 32  # levels of arrays and tables inside each other; the files need four or so


def read_toml(path: str | Path, *, variable: str, what: str, example: str) -> dict[str, Any]:
    """The TOML document at ``path`` (a ``what``: "policy file", "network file"); a
    :class:`ConfigError` naming ``variable``, the problem and ``example`` when the file
    is missing, unreadable, not TOML, or nested over :data:`MAX_DEPTH` levels (tomllib
    recurses once a level: a 1,000-deep array was a RecursionError, and a value just
    under that could still be one where an error message shows it)."""
    file = Path(path)
    deep = ConfigError(variable, f"{file} is not valid TOML: nested too deeply (over {MAX_DEPTH} levels)", example)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except RecursionError:
        raise deep from None
    except FileNotFoundError:
        raise ConfigError(variable, f"no {what} at {file}", example) from None
    except OSError as error:
        raise ConfigError(variable, f"cannot read {file}: {error.strerror}", example) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(variable, f"{file} is not valid TOML: {error}", example) from None
    if _deeper_than(data, MAX_DEPTH):
        raise deep
    return data


def _deeper_than(value: object, limit: int) -> bool:
    """Whether lists and tables in ``value`` nest over ``limit`` levels (no recursion)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
