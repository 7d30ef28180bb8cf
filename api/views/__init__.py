"""Saved views: each user's named searches on the alert queue and the event explorer."""
