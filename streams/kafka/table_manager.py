"""faust's table manager without the second it waits at every start.

faust's ``TableManager.on_start`` sleeps one second before it registers the tables' changelog
channels, leaving agents time to declare tables as they start (faust/tables/manager.py). Every
hashgate table is declared with its app, before anything starts, and a table declared after
registration fails loudly in faust ("Too late to add tables at this point"), so the second
is only a delay: to every start of the worker and the agents, and to every test that starts
one.
"""

from __future__ import annotations

from faust.tables import TableManager


class PromptTableManager(TableManager):
    """faust's table manager, registering the tables at once (see the module docstring)."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()
