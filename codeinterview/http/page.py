"""The web client: a prebuilt bundle (see web/README.md) served at `/` and `/static/`."""

from __future__ import annotations

from quart import Blueprint, Response, current_app
from quart_schema import hide

page = Blueprint("page", __name__)


@page.get("/")
@hide
async def index() -> Response:
    response = await current_app.send_static_file("index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response
