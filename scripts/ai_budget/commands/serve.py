"""budget serve: the dashboard, a page and a JSON API on 127.0.0.1 (standard library http.server).

    GET  /                   the page (web/index.html with this run's token), /app.js, /style.css
    GET  /api/status         core.dashboard: everything the page shows
    GET  /api/history?days=N core.daily_history (N from 1 to 366, default 30)
    POST /api/balances       {"what": "api"|"copilot"|"gemini", <field>: "<text>", …}: commands.apply_balance

Reads go through the pure core, so a GET writes no file of the budget repo (the
usage API's cache and the index are caches; the usage API is asked at most once
per its 3-minute cache and never while its 429 gate is closed). Safety: loopback
only; a Host header other than 127.0.0.1:<port> or localhost:<port> is refused
(DNS rebinding); a POST needs the per-run token the page carries, JSON, a same-origin
Origin (when sent) and no cross-site Sec-Fetch-Site (CSRF); bodies are bounded.
"""

from __future__ import annotations

import hmac
import http.server
import json
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from datetime import timedelta
from pathlib import Path

from .. import core, notices
from ..errors import EXIT_UNAVAILABLE, BudgetError
from . import Result, apply_balance

WEB = Path(__file__).resolve().parents[1] / "web"
STATIC = {"/app.js": ("app.js", "text/javascript; charset=utf-8"), "/style.css": ("style.css", "text/css; charset=utf-8")}
MAX_BODY = 16 * 1024
TOKEN_HEADER = "X-Budget-Token"
LEDGER_WHATS = ("api", "copilot", "gemini")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store", "Cross-Origin-Resource-Policy": "same-origin",
}


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_port(value: str) -> int:
    try:
        port = int(str(value))
    except ValueError:
        raise BudgetError(f"--port: must be a whole number from 0 to 65535, got {str(value)[:20]!r}") from None
    if not 0 <= port <= 65535:
        raise BudgetError(f"--port: must be a whole number from 0 to 65535, got {port}")
    return port


class Dashboard(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, clock):
        super().__init__(("127.0.0.1", port), Handler)
        # serve_forever accepts after select() says a connection waits; one gone by then (reset
        # in the queue) would block accept(), and with it the loop and shutdown, for ever.
        # Non-blocking, that accept fails at once and the loop goes on.
        self.socket.setblocking(False)
        self.port = self.server_address[1]
        self.token = secrets.token_urlsafe(32)
        self.clock = clock
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.compute = threading.Lock()  # one core computation at a time: the index and notices are shared
        self.url = f"http://127.0.0.1:{self.port}/"

    def handle_error(self, request, client_address):
        """One line, no traceback (socketserver's default prints one for a dropped connection).
        A client that hung up (a closed tab, unread bytes reset) is no failure: nothing."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        sys.stderr.write(f"budget serve: a connection failed ({type(sys.exc_info()[1]).__name__})\n")

    def page(self) -> bytes:
        html = (WEB / "index.html").read_text(encoding="utf-8")
        return html.replace("{{TOKEN}}", self.token).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    server: Dashboard
    protocol_version = "HTTP/1.1"
    server_version = "ai-budget"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection holds a thread; let it go

    def log_message(self, *args):  # quiet: the page polls every minute
        pass

    # ------------------------------------------------------------ plumbing

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in SECURITY_HEADERS.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        body = json.dumps(data, default=str, allow_nan=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self.close_connection = True
        self._json(status, {"ok": False, "error": " ".join(message.split())[:300]})

    def _guard_host(self) -> None:
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or hosts[0] not in self.server.hosts:  # a second Host could be the one a proxy obeys
            raise Refused(403, "refused: the Host header must be 127.0.0.1:<port> or localhost:<port>")

    def _run(self, fn) -> None:
        try:
            self._guard_host()
            fn()
        except Refused as exc:
            self._error(exc.status, str(exc))
        except BudgetError as exc:
            self._error(400 if exc.exit_code != EXIT_UNAVAILABLE else 503, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - the type only: an exception's text could hold a secret
            sys.stderr.write(f"budget serve: internal error ({type(exc).__name__}) on {self.command} {self.path[:80]}\n")
            self._error(500, f"internal error ({type(exc).__name__})")

    def _computed(self, fn):
        with self.server.compute:
            notices.drain()
            data = fn(self.server.clock())
            warnings = notices.drain()
        return {"ok": True, **data, **({"warnings": warnings} if warnings else {})}

    # ------------------------------------------------------------ GET

    def do_GET(self):
        self._run(self._get)

    def do_HEAD(self):
        self._run(self._get)

    def _get(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._send(200, self.server.page(), "text/html; charset=utf-8")
        elif url.path in STATIC:
            name, ctype = STATIC[url.path]
            self._send(200, (WEB / name).read_bytes(), ctype)
        elif url.path == "/api/status":
            self._json(200, self._computed(lambda now: core.dashboard(now, allow_fetch=True)))
        elif url.path == "/api/history":
            days = self._days(urllib.parse.parse_qs(url.query, keep_blank_values=True))
            self._json(200, self._computed(lambda now: core.daily_history(now, days)))
        else:
            raise Refused(404, f"not found: {url.path[:80]}")

    @staticmethod
    def _days(query: dict) -> int:
        values = query.get("days", ["30"])
        raw = values[-1]
        if len(values) != 1 or not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= core.MAX_HISTORY_DAYS:
            raise BudgetError(f"days: must be a whole number from 1 to {core.MAX_HISTORY_DAYS}, got {raw[:20]!r}")
        return int(raw)

    # ------------------------------------------------------------ POST

    def do_POST(self):
        try:
            self._raw = self._read_body()
        except Refused as exc:
            self._error(exc.status, str(exc))
            return
        except OSError:  # the client went away, or sent less than it announced (timeout)
            self.close_connection = True
            return
        self._run(self._post)

    def do_PUT(self):
        self._run(self._refuse_method)

    do_DELETE = do_PATCH = do_PUT

    def _refuse_method(self):
        raise Refused(405, f"method {self.command} not allowed")

    def _guard_post(self) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.server.origins:
            raise Refused(403, "refused: cross-origin request")
        if self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            raise Refused(403, "refused: cross-site request")
        if not hmac.compare_digest(self.headers.get(TOKEN_HEADER, "").encode(), self.server.token.encode()):
            raise Refused(403, f"refused: missing or wrong {TOKEN_HEADER} (reload the page)")
        if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            raise Refused(415, "the body must be JSON (Content-Type: application/json)")

    def _read_body(self) -> bytes:
        """The whole body, read before any check answers: closing on unread bytes resets
        the connection, and the client could lose the answer. Past MAX_BODY it is not read."""
        length = self.headers.get("Content-Length")
        if length is None or not (length.isascii() and length.isdigit()):
            raise Refused(411, "a Content-Length is required")
        if int(length) > MAX_BODY:
            raise Refused(413, f"the body is over {MAX_BODY:,} bytes")
        return self.rfile.read(int(length))

    @staticmethod
    def _parse(raw: bytes) -> dict:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise BudgetError("the body is not JSON") from None
        if not isinstance(data, dict):
            raise BudgetError("the body must be a JSON object")
        return data

    def _post(self) -> None:
        if urllib.parse.urlsplit(self.path).path != "/api/balances":
            raise Refused(404, f"not found: {self.path[:80]}")
        self._guard_post()
        fields = self._parse(self._raw)
        what = fields.pop("what", None)
        if what not in LEDGER_WHATS:
            raise BudgetError(f"what: must be one of {', '.join(LEDGER_WHATS)}")
        with self.server.compute:
            result = apply_balance(what, fields, self.server.clock())
        self._json(200, {"ok": True, "text": result.text, **result.data,
                         **({"warnings": result.warnings} if result.warnings else {})})


def make_server(port: int, clock) -> Dashboard:
    try:
        return Dashboard(port, clock)
    except OSError as exc:
        raise BudgetError(f"--port {port}: cannot listen on 127.0.0.1 ({exc.strerror or type(exc).__name__}); "
                          "try another port, or --port 0 for any free one") from None


def run(args, now) -> Result:
    started = time.monotonic()
    server = make_server(parse_port(args.port), lambda: now + timedelta(seconds=time.monotonic() - started))
    signal.signal(signal.SIGTERM, _stop)
    print(f"Dashboard: {server.url}  (Ctrl-C stops)", flush=True)
    if args.open:
        import webbrowser

        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.compute.acquire()  # a POST under way finishes its writes; none starts after (never released)
    return Result(data={}, text="Dashboard stopped.")


def _stop(_signum, _frame):
    raise KeyboardInterrupt
