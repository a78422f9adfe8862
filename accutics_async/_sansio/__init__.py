"""The sans-I/O core: URLs, queries, search and sort, paging decisions, envelope decoding.

Nothing in this package performs I/O or imports aiohttp or asyncio (a test keeps
it so): every rule here is a pure function or a frozen value, unit-tested
without a socket. The I/O side (``_client``, ``_transport``, the pager, export,
sync) calls into it.
"""

__all__: list[str] = []
