"""Who may see and do what within a board: membership, moderation, need-to-know and emergency access (issue 10)."""
