"""The HTTP application of both modes: the JSON API and the console, over one context."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import install as install_api
from api.app import protect_server_errors
from api.context import AppContext
from soc_console import install as install_console


def create_app(ctx: AppContext) -> FastAPI:
    # no public docs: api.app serves the document and its page to signed-in users only
    app = FastAPI(title="socpipe", version="0.1.0", docs_url=None, redoc_url=None, openapi_url=None)
    install_api(app, ctx)
    install_console(app)  # after the API: its inspection error page wraps the API's handler
    protect_server_errors(app)  # last: it wraps the final answer to unexpected failures
    return app
