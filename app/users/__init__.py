"""People who sign in to the console: accounts, passwords, sessions, lock-out."""
