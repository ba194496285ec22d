"""Adapters that read the outside world: usage API, status line, transcripts, backlog."""
