"""Who sees as whom, what each player view may see, and the player view of an entry."""
