"""``agents/<id>.json``: agent records, with presence computed from the heartbeat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcfs.fs.nodes import Dir, Rendered, Stat

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext

SUFFIX = ".json"


class AgentsDir(Dir):
    __slots__ = ()

    async def entries(self, ctx: FsContext) -> list[Stat]:
        ids = await ctx.run(ctx.project.agents.ids)
        return [Stat(c, None) for aid in ids if (c := self.child(aid + SUFFIX))]


class AgentFile(Rendered):
    __slots__ = ()

    @property
    def agent_id(self) -> str:
        return self.name[: -len(SUFFIX)]

    async def render(self, ctx: FsContext) -> bytes:
        agents = ctx.project.agents
        return agents.render(await ctx.run(agents.get, self.agent_id))
