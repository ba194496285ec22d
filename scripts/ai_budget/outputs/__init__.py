"""What the user sees: text, session logs, git commits, status line, hooks."""
