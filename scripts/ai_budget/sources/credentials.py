"""Read-only access to Claude Code's OAuth access token.

Never refreshed, never written, never printed: refresh tokens rotate, and a
refresh by another program logs Claude Code out.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass, field

from .. import paths
from ..errors import SourceUnavailable

KEYCHAIN_SERVICE = "Claude Code-credentials"
FLAT_KEYS = ("accessToken", "access_token", "claudeAiOauthToken")


@dataclass
class Credential:
    token: str = field(repr=False)
    source: str
    expires_at_ms: int | None = None
    scopes: list | None = None
    subscription_type: str | None = None
    rate_limit_tier: str | None = None

    @property
    def fingerprint(self) -> str:
        """Keys the cache so an account switch invalidates it; not reversible."""
        return hashlib.sha256(self.token.encode()).hexdigest()[:16]


def _from_blob(blob, source: str) -> Credential | None:
    if not isinstance(blob, dict):
        return None
    oauth = blob.get("claudeAiOauth")
    if isinstance(oauth, dict) and isinstance(oauth.get("accessToken"), str) and oauth["accessToken"]:
        expires = oauth.get("expiresAt")
        return Credential(
            token=oauth["accessToken"],
            source=source,
            expires_at_ms=expires if isinstance(expires, (int, float)) and not isinstance(expires, bool) else None,
            scopes=oauth.get("scopes") if isinstance(oauth.get("scopes"), list) else None,
            subscription_type=oauth.get("subscriptionType"),
            rate_limit_tier=oauth.get("rateLimitTier"),
        )
    for key in FLAT_KEYS:  # the key names the user's plan guessed
        if isinstance(blob.get(key), str) and blob[key]:
            return Credential(token=blob[key], source=source)
    return None


def keychain_services() -> list[str]:
    """With CLAUDE_CONFIG_DIR set, Claude Code suffixes the service with a hash of
    the raw (NFC) string; the plain name is the fallback."""
    services = []
    raw = os.environ.get("CLAUDE_CONFIG_DIR")
    if raw:
        digest = hashlib.sha256(unicodedata.normalize("NFC", raw).encode()).hexdigest()[:8]
        services.append(f"{KEYCHAIN_SERVICE}-{digest}")
    services.append(KEYCHAIN_SERVICE)
    return services


def _keychain() -> Credential | None:
    for service in keychain_services():
        try:
            proc = subprocess.run(
                ["/usr/bin/security", "find-generic-password", "-s", service, "-w"],
                capture_output=True, timeout=3, text=True,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if proc.returncode == 0 and proc.stdout.strip():
            try:
                blob = json.loads(proc.stdout.strip())
            except ValueError:
                continue
            cred = _from_blob(blob, f"macOS Keychain ({service})")
            if cred:
                return cred
            if isinstance(blob, dict) and "mcpOAuth" in blob:
                raise SourceUnavailable(
                    f"macOS Keychain item '{service}' holds only MCP credentials, no Claude login; run `claude` and log in"
                )
    return None


def read() -> Credential:
    """The token, from the Keychain on macOS, else <claude dir>/.credentials.json."""
    if sys.platform == "darwin":
        cred = _keychain()
        if cred:
            return _checked(cred)
    path = paths.claude_dir() / ".credentials.json"
    if not path.exists():
        raise SourceUnavailable(f"no Claude login: {path} does not exist (log in with `claude`)")
    try:
        blob = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        raise SourceUnavailable(f"{path}: not readable JSON; left untouched") from None
    cred = _from_blob(blob, str(path))
    if cred is None:
        keys = ", ".join(sorted(blob)) if isinstance(blob, dict) else type(blob).__name__
        raise SourceUnavailable(f"{path}: no claudeAiOauth.accessToken (keys found: {keys})")
    return _checked(cred)


def _checked(cred: Credential) -> Credential:
    # A header value may hold only visible ASCII; anything else (a pasted newline) made
    # http.client raise an error that quotes the whole header, token included.
    if not all("!" <= ch <= "~" for ch in cred.token):
        raise SourceUnavailable(
            f"Claude OAuth token from {cred.source} contains a character not allowed in a token "
            "(whitespace, a control character or non-ASCII); run `claude` and log in again"
        )
    if cred.expires_at_ms and cred.expires_at_ms / 1000 < time.time():
        raise SourceUnavailable(
            f"Claude OAuth token from {cred.source} has expired; run `claude` once to refresh it "
            "(ai-budget never refreshes it itself)"
        )
    if cred.scopes is not None and "user:profile" not in cred.scopes:
        raise SourceUnavailable(
            f"Claude OAuth token from {cred.source} lacks the user:profile scope "
            "(a `claude setup-token` token cannot read usage); log in with `claude`"
        )
    return cred
