"""The Install page: from a Git repository or an archive URL, or an uploaded archive (streamed
to disk with the API's limits). Bad fields come back on the form, each by its field; the
manifest is checked by the operation before anything is built, and its page says what failed."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from machete_core.domain.spec import ToolOverrides
from machete_core.errors import InvalidInputError, MacheteError
from machete_core.state.views import OperationRecord
from machete_web.api.common import actor, machete, start_operation
from machete_web.api.uploads import spool
from machete_web.dashboard.pages import field_errors, render, see_other
from machete_web.keys import core
from machete_web.schemas import OverridesIn, parse

FIELD_LIMIT = 4096
FIELDS = {"url", "ref", "archive", "name", "port", "health_path", "subdir", "dockerfile", "target"}


def setup(app: web.Application) -> None:
    app.router.add_get("/install", install_page)
    app.router.add_post("/install", install)


async def install_page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    context = {"title": "Install a tool", "values": values or {}, "errors": errors or {}}
    return await render(request, "install.html", context, status=status)


async def install(request: web.Request) -> web.Response:
    values: dict[str, str] = {}
    spooled: Path | None = None
    filename = None
    try:
        if request.content_type == "multipart/form-data":
            values, spooled, filename = await _read_multipart(request)
        elif request.content_type == "application/x-www-form-urlencoded":
            data = await request.post()
            values = {k: v for k, v in data.items() if isinstance(v, str)}
        else:
            raise InvalidInputError("send the page's form")
        op = await _submit(request, values, spooled, filename)
    except MacheteError as exc:
        errors = field_errors(exc)
        if not set(errors) <= FIELDS:
            errors = {"_form": exc.message}  # about no one field: said above the form
        return await install_page(request, values=values, errors=errors, status=exc.http_status)
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
    start_operation(request, op)
    return see_other(f"/operation/{op.id}")


async def _read_multipart(request: web.Request) -> tuple[dict[str, str], Path | None, str | None]:
    values: dict[str, str] = {}
    spooled: Path | None = None
    filename = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise InvalidInputError("nested forms are not accepted")
        if part.name == "archive" and part.filename:
            if spooled is not None:
                raise InvalidInputError("one archive at a time", details={"path": "archive"})
            filename = part.filename
            spooled = await spool(request, functools.partial(part.read_chunk, 64 * 1024))
        elif part.name:
            raw = await part.read_chunk(FIELD_LIMIT + 1)
            if len(raw) > FIELD_LIMIT:
                raise InvalidInputError(f"'{part.name}' is too long", details={"path": part.name})
            values[part.name] = raw.decode("utf-8", errors="replace")
    return values, spooled, filename


def _overrides(values: dict[str, str]) -> ToolOverrides:
    given: dict[str, Any] = {}
    port = values.get("port", "").strip()
    if port:
        try:
            given["port"] = int(port)
        except ValueError:
            raise InvalidInputError("'port' must be a number", details={"path": "port"}) from None
        if not 1 <= given["port"] <= 65535:
            raise InvalidInputError("'port' must be 1-65535", details={"path": "port"})
    for key in ("health_path", "subdir", "dockerfile", "target"):
        if values.get(key, "").strip():
            given[key] = values[key].strip()
    return parse(OverridesIn, given).record()


async def _submit(
    request: web.Request, values: dict[str, str], spooled: Path | None, filename: str | None
) -> OperationRecord:
    name = values.get("name", "").strip() or None
    overrides = _overrides(values)
    m = machete(request)
    if spooled is not None:
        with spooled.open("rb") as fh:
            return await core(
                request,
                m.submit_upload,
                fh,
                name=name,
                filename=filename,
                overrides=overrides,
                actor=actor(request),
            )
    url = values.get("url", "").strip()
    if not url:
        raise InvalidInputError(
            "give a Git or archive URL, or choose an archive to upload", details={"path": "url"}
        )
    return await core(
        request,
        m.submit_install,
        url,
        name=name,
        ref=values.get("ref", "").strip() or None,
        overrides=overrides,
        actor=actor(request),
    )
