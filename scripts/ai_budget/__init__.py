"""ai-budget: a local, git-backed budget manager for AI coding subscriptions.

Layout mirrors the data flow: sources/ (where numbers come from) → state/
(what we keep) → analysis/ (pure arithmetic) → outputs/ (what the user sees),
with commands/ orchestrating one CLI command each and cli.py parsing argv.
"""

__version__ = "1.0.0"
