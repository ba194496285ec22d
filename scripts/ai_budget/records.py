"""@record: what the modules every command loads used dataclasses for (an __init__
with defaults, __eq__, __repr__, __match_args__, optional __slots__), without
importing dataclasses, whose import (inspect, ast, dis, …) cost each run of
`check` or `report` 7 ms. Same semantics as @dataclass / @dataclass(slots=True)
for plain fields with immutable defaults (no field(), no frozen, no ordering)."""

from __future__ import annotations


def record(cls=None, *, slots: bool = False):
    def wrap(cls):
        inherited = [n for base in reversed(cls.__mro__[1:]) for n in base.__dict__.get("__record_fields__", ())]
        own = [n for n in cls.__dict__.get("__annotations__", {}) if n not in inherited]
        names = tuple(inherited + own)
        defaults = {n: getattr(cls, n) for n in names if hasattr(cls, n) and not _is_slot(cls, n)}
        ns = {f"_d_{n}": v for n, v in defaults.items()}
        params = ", ".join(f"{n}=_d_{n}" if n in defaults else n for n in names)
        body = "".join(f"    self.{n} = {n}\n" for n in names) or "    pass\n"
        exec(f"def __init__(self, {params}):\n{body}" if names else f"def __init__(self):\n{body}", ns)  # noqa: S102
        attrs = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
        attrs.update(__init__=ns["__init__"], __eq__=_eq, __repr__=_repr, __hash__=None, __match_args__=names,
                     __record_fields__=names)
        if slots:
            for n in own:
                attrs.pop(n, None)  # a default would shadow the slot descriptor
            attrs["__slots__"] = tuple(own)
        new = type(cls)(cls.__name__, cls.__bases__, attrs)
        new.__qualname__ = cls.__qualname__
        new.__init__.__qualname__ = f"{cls.__qualname__}.__init__"
        return new

    return wrap if cls is None else wrap(cls)


def _is_slot(cls, name: str) -> bool:
    return type(cls.__dict__.get(name)).__name__ == "member_descriptor"


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = self.__record_fields__
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _repr(self):
    return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__record_fields__)})"
