"""One-line notices from deep inside a command (an index set aside, a file unreadable)
that the CLI prints as warnings after the command's own output. Bottom layer: no imports."""

_pending: list[str] = []


def add(message: str) -> None:
    if message not in _pending:
        _pending.append(message)


def drain() -> list[str]:
    out = _pending[:]
    _pending.clear()
    return out
