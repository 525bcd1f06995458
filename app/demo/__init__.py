"""Demo data for a newcomer: real JDDC chats as a few hundred audited conversations, reviews, demo users."""
