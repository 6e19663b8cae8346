"""Extractors: each yields pages of source records for one tenant and window."""
