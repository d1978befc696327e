"""Persistence: tables, the async engine and sessions, migrations."""
