"""Incremental sync: keep a SQLite table or a JSON Lines change log current, exactly once.

::

    from accutics_async.sync import sync

    async with AccuticsClient() as client:
        result = await sync(client, "/records", "taxonomy.sqlite")  # first run: everything
        result = await sync(client, "/records", "taxonomy.sqlite")  # later runs: changes

Each run asks only for records whose ``key`` (default ``updated_at``) is at
or after the saved watermark minus ``lookback``, sorted by ``key`` then
``id``, and merges them by ``id``. The state is saved in the same commit as
the rows (SQLite: the same transaction; change log: the log is made
durable, then the state beside it replaced atomically), so a run killed at
any point is finished by the next one, and no record is lost or doubled.
"""

from ._run import DEFAULT_LOOKBACK, SyncResult, sync

__all__ = ["DEFAULT_LOOKBACK", "SyncResult", "sync"]
