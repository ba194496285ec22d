"""ai-budget: a local, git-backed budget manager for AI coding subscriptions.

Layout mirrors the data flow: sources/ (where numbers come from) → state/
(what we keep) → analysis/ (pure arithmetic) → outputs/ (what the user sees)
→ core.py (the read API) → commands/ (one CLI command each) → cli.py; a few
shared modules sit below them all. docs/ARCHITECTURE.md has the rules.
"""
