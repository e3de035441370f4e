"""Shared core: settings, user-facing errors and replies, text and log safety, health."""
