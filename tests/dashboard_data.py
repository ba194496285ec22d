"""Synthetic budget repos for the dashboard's tests and its README screenshot: a
status-line reading at a chosen 5-hour %, per-model weekly limits, a month of
transcripts over three models, a backlog, calibration and the three ledgers.
Times are relative to `now`; nothing here is real usage or content."""

from __future__ import annotations

import json
from datetime import timedelta, timezone
from pathlib import Path

from ai_budget.atomic import dump_json
from ai_budget.sources import statusline_snapshot
from ai_budget.state import budget_file, ledgers

# Resets 2h 14m 30s from now: the page's countdown reads "resets in 2h 14m" for the next half minute.
RESETS_IN = timedelta(hours=2, minutes=14, seconds=30)
MODELS = ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")
# The API-credits ledger: (days before now, balance, top-up). Spend: 200→171.5 (28.5), 171.5→150 (21.5),
# 150+50→178 (22), 178→163 (15): 87 over 28 days.
API_LEDGER = ((28, 200.0, None), (21, 171.5, None), (14, 150.0, None), (7, 178.0, 50.0), (0, 163.0, None))


def ts(when) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def assistant(mid: str, when, model: str, out: int, inp: int = 400, cache_read: int = 20_000) -> str:
    usage = {"input_tokens": inp, "output_tokens": out, "cache_read_input_tokens": cache_read,
             "cache_creation_input_tokens": 1500}
    msg = {"id": mid, "model": model, "role": "assistant", "content": [{"type": "text", "text": "redacted"}], "usage": usage}
    return json.dumps({"type": "assistant", "sessionId": "x", "requestId": f"r{mid}", "timestamp": ts(when),
                       "isSidechain": False, "message": msg}, separators=(",", ":"))


def transcripts(projects: Path, now) -> None:
    """Three sessions this morning (all before `now`, which the fixtures pin at noon) and a month before."""
    folder = projects / "-home-me-study-platform"
    folder.mkdir(parents=True, exist_ok=True)
    today = [("s-today-1", MODELS[0], 14, 60), ("s-today-2", MODELS[1], 6, 150), ("s-today-3", MODELS[2], 10, 20)]
    for n, (session, model, count, start_min) in enumerate(today):
        lines = [assistant(f"{session}-{i}", now - timedelta(minutes=start_min - i * 3), model, 900 + 130 * i)
                 for i in range(count)]
        (folder / f"{session}.jsonl").write_text("\n".join(lines) + "\n")
    for day in range(1, 30):
        count = (day * 7) % 11 + 2 if day % 6 else 0  # some idle days
        model = MODELS[day % 2]
        lines = [assistant(f"d{day}-{i}", now - timedelta(days=day, minutes=i * 4), model, 700 + 90 * i) for i in range(count)]
        if lines:
            (folder / f"s-past-{day}.jsonl").write_text("\n".join(lines) + "\n")


def budget(home: Path, now, plan: str = "max") -> None:
    data = budget_file.default_budget()
    c = data["claude"]
    c.update(plan=plan, source="api", last_fetched=(now - timedelta(minutes=1)).isoformat(),
             scoped_weekly=[{"model": "Opus", "util": 62.0, "resets_at": (now + timedelta(days=3)).isoformat(), "active": False},
                            {"model": "Sonnet", "util": 88.0, "resets_at": (now + timedelta(days=3)).isoformat(), "active": True}],
             binding="weekly_scoped:Sonnet")
    c["five_hour"] = {"util": 10.0, "resets_at": (now + RESETS_IN).isoformat()}
    c["seven_day"] = {"util": 41.0, "resets_at": (now + timedelta(days=3, hours=5)).isoformat()}
    data["copilot"].update(used=285, limit=1500, resets_at=(now + timedelta(days=20)).isoformat(),
                           last_updated=(now - timedelta(days=1)).isoformat())
    data["gemini"].update(status="active", used=40, limit=1000, last_updated=(now - timedelta(hours=5)).isoformat())
    data["limits"].update(daily=1.8, monthly=200)  # today's ~$1.60 is a warning, the month's ok
    cal = data["calibration"]
    cal["flashcard"].update(samples=3, token_samples=3, units_total=35, pct_total=89.5, token_units_total=35,
                            output_tokens_total=21_840, avg_5h_pct=89.5 / 35, avg_output_tokens=624.0)
    cal["css_component"].update(samples=2, token_samples=2, units_total=4, pct_total=18.0, token_units_total=4,
                                output_tokens_total=6_000, avg_5h_pct=4.5, avg_output_tokens=1500.0)
    home.mkdir(parents=True, exist_ok=True)
    (home / "budget.json").write_text(dump_json(data))
    tasks = home / "tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "backlog.md").write_text(
        "# Backlog\n\n## Study platform\n"
        "[H] Flashcard content — SMA209/SMA212 topics (flashcard x15)\n"
        "[M] Feature decision: SM-2 algorithm (feature x1)\n"
        "[L] span.topic-code CSS styling (css_component x1)\n"
        "[H] Circuit Analysis diagrams (circuit_diagram x8)\n")
    for days, balance, topup in API_LEDGER:
        entry = {"at": ts(now - timedelta(days=days, minutes=5)), "balance_usd": balance}
        if topup:
            entry["topup_usd"] = topup
        ledgers.append(home, "api", entry)
    ledgers.append(home, "copilot", {"at": ts(now - timedelta(days=1)), "used": 285, "limit": 1500, "unit": "credits",
                                     "resets_at": data["copilot"]["resets_at"], "plan": "pro"})


def reading(now, five: float, seven: float = 41.0) -> None:
    """A fresh status-line reading (the source the brief prefers)."""
    statusline_snapshot.write({"five_hour": {"util": five, "resets_at": (now + RESETS_IN).isoformat()},
                               "seven_day": {"util": seven, "resets_at": (now + timedelta(days=3, hours=5)).isoformat()}}, now)


def populate(home: Path, projects: Path, now, five: float | None) -> None:
    """A full repo at `five` % of the 5-hour window; None: a fresh user with no data at all."""
    if five is None:
        return
    budget(home, now)
    transcripts(projects, now)
    reading(now, five)


# ---------------------------------------------------------------- headless Chromium

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 6000  # virtual time for the scripts to fetch and draw (network waits do not use it up)


def chromium_args(profile: Path) -> list[str]:
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio",
            "--hide-scrollbars", f"--user-data-dir={profile}", f"--virtual-time-budget={WAIT_MS}"]


def dump_dom(url: str, profile: Path, timeout: float = 90) -> str:
    import subprocess

    proc = subprocess.run(chromium_args(profile) + ["--dump-dom", url], capture_output=True, text=True, timeout=timeout)
    return proc.stdout


def screenshot(url: str, profile: Path, out: Path, size: str = "1280,2200", timeout: float = 90) -> None:
    import subprocess

    subprocess.run(chromium_args(profile) + [f"--screenshot={out}", f"--window-size={size}", url],
                   capture_output=True, text=True, timeout=timeout, check=True)


class Browser:
    """Headless Chromium driven over its DevTools pipe (--remote-debugging-pipe: JSON
    messages ending in NUL, commands on the child's fd 3, answers on its fd 4), so a
    test can fill in and submit the page's forms with the standard library only."""

    def __init__(self, url: str, profile: Path, timeout: float = 60, width: int | None = None):
        import os
        import subprocess

        self.timeout, self._next, self._buffer = timeout, 0, b""
        import fcntl

        def high(fd):  # above 4, so 3<& and 4>& cannot overwrite one with the other (bash: dash takes fds ≤ 9 only)
            moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            return moved

        to_chrome_r, self._to_chrome = map(high, os.pipe())
        self._from_chrome, from_chrome_w = map(high, os.pipe())
        args = chromium_args(profile)[:-1] + ["--remote-debugging-pipe", "about:blank"]  # real time: we wait ourselves
        self.proc = subprocess.Popen(["bash", "-c", f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}', *args],
                                     pass_fds=(to_chrome_r, from_chrome_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        if width:  # a phone's or a desktop's viewport, before the page lays itself out
            self.send("Emulation.setDeviceMetricsOverride", self.session, width=width, height=900, deviceScaleFactor=1,
                      mobile=width < 600)
        self.send("Page.navigate", self.session, url=url)

    def send(self, method: str, session: str | None = None, **params) -> dict:
        import os
        import select
        import time

        self._next += 1
        message = {"id": self._next, "method": method, "params": params, **({"sessionId": session} if session else {})}
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._next:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer {method}")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk

    def js(self, expression: str):
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.send("Runtime.evaluate", self.session, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30):
        """Poll until the expression is truthy; its value."""
        import time

        deadline, failed = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:
                value = self.js(expression)
            except RuntimeError as exc:  # the page is still loading (no such element yet)
                value, failed = None, exc
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"never true in the page: {expression}" + (f" ({failed})" if failed else ""))

    def close(self) -> None:
        import os

        try:
            self.send("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        for fd in (self._to_chrome, self._from_chrome):
            os.close(fd)
        try:
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - a browser that will not go is killed
            self.proc.kill()
            self.proc.wait()
