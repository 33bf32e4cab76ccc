"""Fixtures shared across test folders (filled by its domain)."""
