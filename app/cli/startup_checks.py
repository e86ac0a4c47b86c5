"""Start-up mistakes told in a line or two: the setting, its value (passwords masked) and the
fix, instead of a traceback that never names the setting (`aftercare --debug` shows it).

Exit codes: 2 for a mistake in the configuration (a setting, the database URL, a database that
does not exist, a port in use, a data directory this user cannot write), 3 for a PostgreSQL
that did not answer within AFTERCARE_DATABASE_WAIT_SECONDS (the same command may work later),
1 for anything else."""

import errno
import re
import socket
from typing import Any

from pydantic import ValidationError

from app.core.config import Settings

CONFIGURATION = 2
UNREACHABLE = 3
# Settings whose value is never printed, masked or not (secret_key, metrics_token).
_SECRET_ENDINGS = ("_key", "_token", "password")
_SETTING_NAME = re.compile(r"\bAFTERCARE_([A-Z0-9_]+)")
# libpq and asyncpg read a password from the query string too (?password=, ?sslpassword=).
_PASSWORD_PARAMETER = re.compile(
    r"([?&;][^=&#\s]*(?:pass|pwd|secret|token)[^=&#\s]*=)[^&#\s]*", re.I
)
_MASKABLE_WORD = re.compile(r"\S*(?:://|@|pass|pwd|secret|token)\S*", re.I)


class StartupMistake(Exception):
    """What went wrong, naming the setting and its value, and what to do about it."""

    def __init__(self, problem: str, fix: str = "", exit_code: int = CONFIGURATION) -> None:
        super().__init__(problem)
        self.problem, self.fix, self.exit_code = problem, fix, exit_code

    def lines(self) -> list[str]:
        return [f"error: {self.problem}", *([f"  fix: {self.fix}"] if self.fix else [])]


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***: the user info's (everything between `://`
    and the last `@`, so a password holding `@` is masked whole) and a query's password=.
    Never parsed first: a URL nothing can parse is masked the same way, not printed as given."""
    head, scheme_mark, rest = url.partition("://")
    if not scheme_mark:  # postgresql//u:secret@h/db: the user info is masked all the same
        head, rest = "", url
    user_info, at, host = rest.rpartition("@")
    if at and ":" in user_info:
        rest = f"{user_info.split(':', 1)[0]}:***@{host}"
    return _PASSWORD_PARAMETER.sub(r"\1***", f"{head}{scheme_mark}{rest}")


def masked_text(text: str) -> str:
    """A message with every URL-like word (`scheme://`, `user:pass@`, `?password=`) masked."""
    return _MASKABLE_WORD.sub(lambda word: mask_url(word.group(0)), text)


def shown_value(field: str, value: Any) -> str:
    """A setting's value as it may be printed: secrets hidden, URL passwords masked."""
    if field.endswith(_SECRET_ENDINGS):
        return "(hidden)"
    text = value if isinstance(value, str) else str(value)
    return repr(mask_url(text) if "://" in text else text)


def settings_mistakes(exc: ValidationError) -> list[str]:
    """One line per rejected setting: `AFTERCARE_DB_POOL_SIZE='abc': Input should be ...`."""
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:  # one field's value
            field = str(error["loc"][0])
            name, value = f"AFTERCARE_{field.upper()}", shown_value(field, error.get("input"))
            lines.append(f"error: {name}={value}: {message}")
            lines.append(f"  fix: correct {name}, or unset it for {_default_of(field)}")
        else:  # a check over several fields: its message names the setting
            given = error.get("input")
            lines.append(f"error: {message}{_value_named_in(message, given)}")
    return lines


def _default_of(field: str) -> str:
    default = Settings.model_fields[field].default if field in Settings.model_fields else None
    return f"its default ({default!r})" if default not in (None, "") else "its default"


def _value_named_in(message: str, given: Any) -> str:
    named = _SETTING_NAME.search(message)
    field = named.group(1).lower() if named else ""
    if not isinstance(given, dict) or field not in given or field.endswith(_SECRET_ENDINGS):
        return ""
    return f" (it is {shown_value(field, given[field])})"


def bind_listeners(host: str, port: int) -> list[socket.socket]:
    """The sockets `serve` will listen on, bound now, before migrating: a port in use is
    reported at once. Bound as asyncio's create_server binds (every address of the host)."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupMistake(
            f"--host {host}: no such address ({exc.strerror})",
            "give an address of this machine, such as 127.0.0.1 or 0.0.0.0",
        ) from exc
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(addresses):  # no duplicates
            listener = socket.socket(family, kind, proto)
            bound.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listener.bind(address)
            # Listening now, not when uvicorn starts: with SO_REUSEADDR alone a second `serve`
            # could bind the same port while the first waits for its database.
            listener.listen()
    except OSError as exc:
        for listener in bound:
            listener.close()
        raise StartupMistake(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror})",
            "stop the process using that port or give another --port"
            if exc.errno == errno.EADDRINUSE
            else "give an address of this machine and a port this user may open",
        ) from exc
    for listener in bound:
        listener.set_inheritable(True)
    return bound


def listening_url(listeners: list[socket.socket], host: str) -> str:
    port = listeners[0].getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
