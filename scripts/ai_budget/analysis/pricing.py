"""API-equivalent cost of usage: what the tokens would cost at Anthropic's list
prices on the day they were used. A subscriber pays the subscription, so every
figure this produces is an estimate, and an unknown model is unpriced (None),
never $0."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

PRICES_FILE = Path(__file__).with_name("prices.json")
_DATE_SUFFIX = re.compile(r"(-|@)\d{8}$")
_PREFIX = re.compile(r"^(?:anthropic[./]|bedrock/|vertex_ai/|us\.anthropic\.|eu\.anthropic\.)")
_VERSION_SUFFIX = re.compile(r"-v\d+(?::\d+)?$")


@dataclass(frozen=True)
class Rates:
    input: float
    output: float
    cache_5m: float
    cache_1h: float
    cache_read: float


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
    name = _PREFIX.sub("", model.strip().lower())
    name = _VERSION_SUFFIX.sub("", name)
    return _DATE_SUFFIX.sub("", name)


class PriceTable:
    def __init__(self, data: dict, overrides: dict | None = None):
        self.aliases = data.get("aliases", {})
        self.models = {k: sorted(v, key=lambda p: p.get("from") or "") for k, v in data["models"].items()}
        for model, spec in (overrides or {}).items():
            self.models[normalise(model)] = [{"from": None, **spec}]
        blob = json.dumps([data, overrides or {}], sort_keys=True).encode()
        self.fingerprint = hashlib.sha256(blob).hexdigest()[:16]
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
    return PriceTable(json.loads(PRICES_FILE.read_text()), overrides)
