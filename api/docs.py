"""The API's interactive documentation (Swagger UI) for signed-in users, served from this process.

The app's Content-Security-Policy allows scripts and styles from its own origin only, so FastAPI's
default page (scripts from a CDN, configured by an inline script) is a blank page here. The Swagger
UI assets come from the `fastapi-offline` package (a maintained copy of swagger-ui-dist), and the
page's configuration is a small script of our own on the same origin: nothing inline, nothing
fetched from elsewhere. Every route needs a signed-in user, like the OpenAPI document it renders.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files

from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.responses import HTMLResponse

from api.auth.deps import require_roles

OPENAPI_URL = "/api/openapi.json"
DOCS_URL = "/api/docs"
ASSETS = files("fastapi_offline") / "static"
# Only what the page loads; names are fixed here, so a request can never pick another file.
FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}
INIT_JS = f"""window.ui = SwaggerUIBundle({{
  url: "{OPENAPI_URL}",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}});
"""

router = APIRouter(prefix=DOCS_URL, include_in_schema=False, dependencies=[Depends(require_roles())])


def page(title: str) -> str:
    """The page: the stylesheet, the bundle and our configuration script, all on this origin."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{DOCS_URL}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{DOCS_URL}/swagger-ui-bundle.js"></script>
<script src="{DOCS_URL}/init.js"></script>
</body>
</html>
"""


@router.get("", response_class=HTMLResponse)
def docs_page() -> HTMLResponse:
    return HTMLResponse(page("socpipe API"))


@router.get("/init.js")
def docs_init() -> Response:
    return Response(INIT_JS, media_type="text/javascript; charset=utf-8")


@router.get("/{name}")
def docs_asset(name: str) -> Response:
    """One of the Swagger UI files, cached by the browser for a day (they change only on upgrade)."""
    media_type = FILES.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such documentation file")
    body = (ASSETS / name).read_bytes()
    return Response(body, media_type=media_type, headers={"Cache-Control": "private, max-age=86400"})
