"""API-equivalent cost of usage: what the tokens would cost at Anthropic's list
prices on the day they were used. A subscriber pays the subscription, so every
figure this produces is an estimate, and an unknown model is unpriced (None),
never $0."""

from __future__ import annotations

import json
import os
import re
from collections import namedtuple
from datetime import datetime, timezone

from ..atomic import sha256_hex

# A str and a namedtuple: the status line loads this module (no pathlib, no dataclasses).
PRICES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prices.json")
# What normalise strips; by hand, not by regex: the status line prices a new response and
# compiling three patterns cost it about 0.3 ms a run. Digits are a regex's \d: any Unicode decimal.
_PREFIXES = ("anthropic.", "anthropic/", "bedrock/", "vertex_ai/", "us.anthropic.", "eu.anthropic.")

Rates = namedtuple("Rates", "input output cache_5m cache_1h cache_read")


def _rates(spec: dict) -> Rates:
    inp = float(spec["input"])
    return Rates(
        input=inp,
        output=float(spec["output"]),
        cache_5m=float(spec.get("cache_write_5m", inp * 1.25)),
        cache_1h=float(spec.get("cache_write_1h", inp * 2)),
        cache_read=float(spec.get("cache_read", inp * 0.1)),
    )


def normalise(model: str) -> str:
    """A model name as the price table keys it: no provider prefix, no `-v1[:0]` version, no
    `-YYYYMMDD` (or `@YYYYMMDD`) date."""
    name = model.strip().lower()
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    cut = name.rfind("-v")
    number, colon, sub = name[cut + 2:].partition(":")
    if cut >= 0 and number.isdecimal() and (not colon or sub.isdecimal()):
        name = name[:cut]
    # As a regex's `$`, the date may also stand before one final newline (a version cut can leave one).
    end = len(name) - 1 if name.endswith("\n") else len(name)
    if end >= 9 and name[end - 9] in "-@" and name[end - 8:end].isdecimal():
        name = name[:end - 9] + name[end:]
    return name


class PriceTable:
    def __init__(self, data: dict, overrides: dict | None = None):
        self.aliases = data.get("aliases", {})
        self.models = {k: sorted(v, key=lambda p: p.get("from") or "") for k, v in data["models"].items()}
        for model, spec in (overrides or {}).items():
            self.models[normalise(model)] = [{"from": None, **spec}]
        blob = json.dumps([data, overrides or {}], sort_keys=True).encode()
        self.fingerprint = sha256_hex(blob)[:16]
        self._cache: dict = {}

    def newest(self, family: str) -> str | None:
        """The newest priced model of a family ('sonnet'), its version read from its digits."""
        names = [m for m in self.models if family in m]
        return max(names, key=lambda m: [int(x) for x in re.findall(r"\d+", m)], default=None)

    def period(self, model: str, ts_ms: int) -> dict | None:
        key = (model, ts_ms // 86_400_000)
        if key not in self._cache:  # every response of a day asks the same question
            self._cache[key] = self._period(model, ts_ms)
        return self._cache[key]

    def _period(self, model: str, ts_ms: int) -> dict | None:
        key = normalise(model)
        key = self.aliases.get(key, key)
        periods = self.models.get(key)
        if not periods:
            return None
        day = datetime.fromtimestamp(ts_ms / 1000, timezone.utc).strftime("%Y-%m-%d")
        chosen = periods[0]
        for p in periods:
            if (p.get("from") or "") <= day:
                chosen = p
        return chosen

    def cost(self, model: str | None, ts_ms: int, inp: int, out: int, c5: int, c1: int, cread: int,
             fast: bool = False) -> float | None:
        """USD for one API response; None when the model is unknown."""
        if not model:
            return 0.0 if inp + out + c5 + c1 + cread == 0 else None
        spec = self.period(model, ts_ms)
        if spec is None:
            return None
        lc = spec.get("long_context")
        # Anthropic bills the whole request at long-context rates once its input exceeds the threshold.
        if lc and inp + c5 + c1 + cread > lc["above"]:
            spec = {**spec, **lc}
        if fast and spec.get("fast"):
            spec = {**spec, **spec["fast"]}
        rates = _rates(spec)
        usd = (inp * rates.input + out * rates.output + c5 * rates.cache_5m
               + c1 * rates.cache_1h + cread * rates.cache_read) / 1_000_000
        if fast and not spec.get("fast"):
            usd *= float(spec.get("fast_multiplier", 1))
        return usd

    def rates(self, model: str | None, ts_ms: int) -> Rates | None:
        """USD per million tokens of a model on a day (base rates: no long-context or fast mode)."""
        spec = self.period(model, ts_ms) if model else None
        return _rates(spec) if spec else None

    def entry_cost(self, e) -> float | None:
        return self.cost(e.model if e.model != "<synthetic>" else None, e.ts_ms, e.input, e.output,
                         e.cache_5m, e.cache_1h, e.cache_read, e.fast)


def load(overrides: dict | None = None) -> PriceTable:
    with open(PRICES_FILE, encoding="utf-8") as handle:
        return PriceTable(json.loads(handle.read()), overrides)
