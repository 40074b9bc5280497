"""Making text that came from a queue safe to log and to store.

Task ids, module names and exception messages can all be chosen by whoever
writes to the store. Logged raw, a newline in an id forges a log line; stored
raw, a lone surrogate in an exception message makes the store refuse the
dead letter that should record it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from alligator.limits import MAX_REASON_CHARS

#: Longest piece of untrusted text put in one log line.
MAX_LOGGED_CHARS = 200


def closest(word: str, choices: Iterable[str]) -> str | None:
    """Returns the choice a mistyped ``word`` most likely meant, or None when none is close.

    Example:
        >>> closest("timout", ["timeout", "synchronous"])
        'timeout'
    """
    # Imported here: difflib (~150 KiB) serves only these hints, never a
    # worker's path, where it would be part of every worker process's RSS.
    import difflib

    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_names(kind: str, given: Iterable[str], known: Sequence[str]) -> str | None:
    """Says which of ``given`` are not ``known``, each with the nearest known name.

    Example:
        >>> unknown_names("task option", ["retry", "delay_by"], ["delay_by", "retries"])
        "unknown task option 'retry' (did you mean 'retries'?); the task options are delay_by, retries"

    Args:
        kind: What the names are, for the message (``"task option"``).
        given: The names given.
        known: The names accepted.

    Returns:
        The message, or None when every name is known.
    """
    unknown = [name for name in given if name not in known]
    if not unknown:
        return None
    parts = []
    for name in unknown:
        close = closest(name, known)
        hint = f" (did you mean {close!r}?)" if close else ""
        parts.append(f"{printable(repr(name), 80)}{hint}")
    plural = "s" if len(unknown) > 1 else ""
    return f"unknown {kind}{plural} {', '.join(parts)}; the {kind}s are {', '.join(sorted(known))}"


def printable(value: object, limit: int = MAX_LOGGED_CHARS) -> str:
    """Returns ``value`` as one line of text safe to put in a log line.

    Control characters (newlines included), lone surrogates and other
    unprintable characters are shown as escapes, and the text is cut to
    ``limit`` characters, so an attacker-chosen id or name cannot forge or
    flood log lines.

    Example:
        >>> printable("t1\\nINFO forged")
        't1\\\\nINFO forged'

    Args:
        value: Anything; non-strings are shown with ``str()``.
        limit: The most characters to keep.

    Returns:
        The escaped text.
    """
    text = value if isinstance(value, str) else str(value)
    if not text.isprintable():
        text = "".join(char if char.isprintable() else _escape(char) for char in text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _escape(char: str) -> str:
    return (
        repr(char)[1:-1]
        if char in "\n\r\t"
        else f"\\u{ord(char):04x}"
        if ord(char) <= 0xFFFF
        else f"\\U{ord(char):08x}"
    )


def storable(reason: str, limit: int = MAX_REASON_CHARS) -> str:
    """Returns a reason any backend can store: valid UTF-8, at most ``limit`` characters.

    Lone surrogates (which UTF-8 cannot encode) become ``\\udXXX`` escapes;
    everything else, newlines and NUL included, is kept. A long reason keeps
    its end, where a traceback names the failing line.

    Example:
        >>> storable("bad \\udc80 byte")
        'bad \\\\udc80 byte'

    Args:
        reason: The text.
        limit: The most characters to keep.

    Returns:
        The storable text.
    """
    text = reason
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > limit:
        text = "...\n" + text[-(limit - 4) :]
    return text


def redact_dsn(dsn: str) -> str:
    """Returns a DSN with any password (in the userinfo or the query) hidden.

    The userinfo is found by the last ``@`` after ``scheme://``, not by a
    URL parser, so a password holding an unencoded ``#``, ``?`` or ``/``
    (which a parser takes for the start of the fragment, query or path) is
    hidden too.

    Example:
        >>> redact_dsn("redis://user:s3cret@host:6379/0?password=x&db=1")
        'redis://user:***@host:6379/0?password=***&db=1'
        >>> redact_dsn("redis://:hunter#2@host:6379/7")
        'redis://:***@host:6379/7'
        >>> redact_dsn("sqlite:///tasks.db")
        'sqlite:///tasks.db'

    Args:
        dsn: The DSN, as a user wrote it.

    Returns:
        The same DSN with every secret replaced by ``***``.
    """
    from urllib.parse import parse_qsl

    scheme, sep, rest = dsn.partition("://")
    if not sep:
        return dsn if "@" not in dsn else "<a DSN that cannot be shown: it may hold a password>"
    userinfo = ""
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        userinfo += "@"
    location, qmark, query = rest.partition("?")
    query, hash_, fragment = query.partition("#")
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        secret_keys = {"password", "passwd", "pass", "secret", "token", "ssl_password"}
        if any(key.lower() in secret_keys for key, _ in pairs):
            query = "&".join(
                f"{key}={'***' if key.lower() in secret_keys else value}" for key, value in pairs
            )
    return f"{scheme}://{userinfo}{location}{qmark}{query}{hash_}{fragment}"


def human_bytes(count: int) -> str:
    """A byte count in the largest binary unit that keeps it at least 1.

    Example:
        >>> human_bytes(512), human_bytes(3 * 1024 * 1024 + 1)
        ('512 bytes', '3.0 MiB')
    """
    amount, unit = float(count), "bytes"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, larger
    return f"{count} bytes" if unit == "bytes" else f"{amount:.1f} {unit}"
