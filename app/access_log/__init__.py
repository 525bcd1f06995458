"""Who read which conversation or recording, when, with which role: written on every read, read by admins."""
