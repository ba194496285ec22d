"""What ai-budget keeps: budget.json, the transcript index, committed history."""
