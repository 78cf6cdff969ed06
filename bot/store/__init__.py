"""The SQLite store: connections, migrations and one repository module per table family."""

from bot.store.db import Store

__all__ = ["Store"]
