"""Count each API response once (as ccusage does), with one deliberate change.

Key: (message.id, requestId). A sidechain replay of a kept message (same id,
other requestId) matches it too. Among duplicates the main chain beats a
sidechain, then the larger token total (the complete line beats a partial
streamed one), then the session's own line beats a fork's copy of it (so the
session that made the call keeps it whichever file is read first), then a line
with `speed` set. Lines without message.id are never
de-duplicated.

A response written as several lines (one per content block) names its tool
calls on different lines: whichever line is kept carries the union of their
tool names and the skill and agent any of them names (`merge`).

Change from ccusage's daily loader: a line without requestId keys on
(message.id, None) rather than (message.id, timestamp), so one streamed response
written at several timestamps is counted once, not once per line.
"""

from __future__ import annotations

from .transcripts import NAMES_MAX


def better(new, old) -> bool:
    if new.sidechain != old.sidechain:
        return old.sidechain
    if new.total != old.total:
        return new.total > old.total
    if new.copied != old.copied:
        return old.copied
    return new.fast and not old.fast


def merge(kept, other) -> bool:
    """Give `kept` the tool names, skill and agent that another line of the same
    response adds; whether anything changed."""
    if other.tools is other.skill is other.agent is other.agent_ref is None:  # most lines: text, thinking
        return False
    changed = False
    if other.tools and other.tools != kept.tools:
        tools = ",".join(sorted(set(other.tools.split(",")) | set((kept.tools or "").split(",")) - {""})[:NAMES_MAX])
        changed = tools != kept.tools
        kept.tools = tools
    for name in ("skill", "agent", "agent_ref"):
        if getattr(kept, name) is None and getattr(other, name) is not None:
            setattr(kept, name, getattr(other, name))
            changed = True
    return changed


class Deduper:
    """Feed entries in file order; `kept` holds one entry per API response."""

    def __init__(self):
        self.kept: list = []
        self.changed: set[int] = set()  # indices added or replaced since construction/preload
        self._by_key: dict[tuple, int] = {}
        self._by_id: dict[str, list[int]] = {}

    def preload(self, entry) -> int:
        """Seed with an entry kept by an earlier run (the index); not marked changed."""
        self.kept.append(entry)
        index = len(self.kept) - 1
        if entry.message_id is not None:
            self._by_id.setdefault(entry.message_id, []).append(index)
            self._by_key.setdefault((entry.message_id, entry.request_id), index)
        return index

    def add(self, entry) -> None:
        mid = entry.message_id
        if mid is None:
            self.kept.append(entry)
            self.changed.add(len(self.kept) - 1)
            return
        key = (mid, entry.request_id)
        index = self._by_key.get(key)
        if index is None:
            for candidate in self._by_id.get(mid, ()):
                if entry.sidechain or self.kept[candidate].sidechain:
                    index = candidate
                    break
        if index is None:
            self.kept.append(entry)
            index = len(self.kept) - 1
            self._by_id.setdefault(mid, []).append(index)
            self.changed.add(index)
        elif better(entry, self.kept[index]):
            merge(entry, self.kept[index])
            self.kept[index] = entry
            self.changed.add(index)
        elif merge(self.kept[index], entry):
            self.changed.add(index)
        self._by_key.setdefault(key, index)

    def extend(self, entries) -> "Deduper":
        for entry in entries:
            self.add(entry)
        return self
