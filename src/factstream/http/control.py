"""Rebuilding and resetting projections over HTTP: ``POST /projections/{name}/rebuild`` and
``POST /projections/{name}/reset`` (writes: the bearer token, or the console's session with its
header, like every other write).

The request waits for the action to finish and answers what was done. One action per
projection at a time: a second one while the first runs is a 409 ``projection-busy``.
"""

from typing import Annotated, Literal

import msgspec
from litestar import post
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from .ports import ProjectionControl
from .problems import Conflict, NotFound, Problem

__all__ = ["ProjectionAction", "control_routes"]


class ProjectionAction(msgspec.Struct, frozen=True, kw_only=True):
    """What a rebuild or reset did."""

    name: str
    action: Literal["rebuilt", "reset"]
    detail: str


ProjectionName = Annotated[str, PathParameter(min_length=1, max_length=200)]
Action = Literal["rebuilt", "reset"]


def control_routes(control: ProjectionControl | None) -> list[HTTPRouteHandler]:
    busy: set[str] = set()

    async def _act(name: str, action: Action) -> ProjectionAction:
        if control is None:
            raise Problem(
                "this server cannot rebuild or reset projections (no projection control "
                "configured); use 'factstream projections rebuild|reset'",
                status=501,
                kind="not-configured",
            )
        if name in busy:
            raise Conflict(
                f"projection {name!r} is being rebuilt or reset already; wait for it to finish",
                kind="projection-busy",
            )
        busy.add(name)
        try:
            if action == "rebuilt":
                detail = await control.rebuild_projection(name)
            else:
                detail = await control.reset_projection(name)
        finally:
            busy.discard(name)
        if detail is None:
            raise NotFound(f"there is no projection {name!r}")
        return ProjectionAction(name=name, action=action, detail=detail)

    def route(verb: str, action: Action, summary: str) -> HTTPRouteHandler:
        async def act(name: ProjectionName) -> ProjectionAction:
            return await _act(name, action)

        return post(
            f"/projections/{{name:str}}/{verb}",
            tags=["operations"],
            summary=summary,
            status_code=200,
            operation_id=f"{verb}_projection",
            name=f"{verb}_projection",
        )(act)

    return [
        route(
            "rebuild",
            "rebuilt",
            "Rebuild a projection's read model beside the live one, then swap it in",
        ),
        route(
            "reset", "reset", "Delete a projection's read model and build it again from position 1"
        ),
    ]
