"""The web page served by ``vidpipe serve`` at ``/`` (issue 13).

Server-rendered page shells (Jinja2 templates in ``service/web/templates``) and small
hand-written JavaScript and CSS (``service/web/static``): no Node toolchain, no build
step, no copied library files. The pages hold no data themselves: their script reads
everything from the service's own ``/v1/*`` API in the browser, so the page routes
need no key and are exempt from the API's Bearer authentication
(:func:`vidpipe.service.auth.is_public`).

With keys set (``VIDPIPE_SERVICE_KEYS``) the page asks for a key once; ``POST
/session`` checks it and keeps it in an HttpOnly, ``SameSite=Strict`` session cookie
(:data:`vidpipe.service.auth.SESSION_COOKIE`) that the API's authentication accepts
like a Bearer header.
A cookie is what lets the ``<video>`` element (HTTP Range requests) and
``EventSource`` (server-sent events) reach authenticated routes: neither can send an
``Authorization`` header.

Routes (all ``GET`` return HTML unless noted):

- ``/``: the library (items, filters, sort, pages, totals, failures, durations plot);
- ``/items/{item_id}``: the player with the synchronised transcript (``?t=SECONDS``
  starts there);
- ``/search?q=``: search hits, each opening the player at its time;
- ``/jobs``: jobs by input (or every step), counts, bulk retry, clear, pause;
- ``/topics``: the latest topics with their items, each linking to its moment;
- ``/new``: new work (uploads, URLs, steps) and narration;
- ``/static/{name}``: the page's own script, style sheet and icon;
- ``/static/docs/{name}``: Swagger UI 5 and ReDoc 2 for ``/docs`` and ``/redoc``, from
  the ``fastapi-offline`` package (no CDN: the docs work offline);
- ``POST /session`` ``{"key": ...}`` / ``DELETE /session``: sign in and out (JSON).

A browser asking for an unknown route (``Accept: text/html``, not under ``/v1/``) gets
an HTML "page not found" (:func:`not_found`); API clients keep the JSON error.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidpipe import __version__
from vidpipe.errors import NotFoundError
from vidpipe.service.auth import SESSION_COOKIE, key_ok

__all__ = ["docs_page", "not_found", "redoc_page", "router"]

WEB_DIR = Path(__file__).with_name("web")
TEMPLATES = Jinja2Templates(directory=str(WEB_DIR / "templates"))
STATIC_DIR = WEB_DIR / "static"
#: the page's steps, in pipeline order (the jobs of ``vidpipe submit``)
PAGE_STEPS = ("probe", "audio", "transcribe", "summarize", "chapters", "describe")
#: narration's image sources offered by the form (``vidpipe narrate --images``)
IMAGE_SOURCES = ("cards", "openai", "sdwebui")

router = APIRouter(include_in_schema=False)


def _keys(request: Request) -> list[str]:
    return list(request.app.state.config.keys or [])


def _page(request: Request, name: str, page: str, title: str, **extra) -> HTMLResponse:
    context = {
        "page": page,
        "title": title,
        "version": __version__,
        "auth": bool(_keys(request)),
        "query": request.query_params.get("q", ""),
        **extra,
    }
    return TEMPLATES.TemplateResponse(request, name, context)


@router.get("/", response_class=HTMLResponse)
def library_page(request: Request) -> HTMLResponse:
    """The library: every item, filters, sort, pages, totals and failures."""
    return _page(request, "library.html", "library", "Library")


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, item_id: int) -> HTMLResponse:
    """One item: player, synchronised transcript, summary, chapters, scenes, downloads."""
    return _page(request, "item.html", "item", f"Item {item_id}", item_id=item_id)


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    """Search hits of ``?q=``; each opens the player at its time."""
    q = request.query_params.get("q", "")
    return _page(request, "search.html", "search", f"Search: {q}" if q else "Search")


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request) -> HTMLResponse:
    """Live jobs with counts per status, progress, cancel and retry."""
    return _page(request, "jobs.html", "jobs", "Jobs")


@router.get("/topics", response_class=HTMLResponse)
def topics_page(request: Request) -> HTMLResponse:
    """The latest topics, each with its items and the moment each says a keyword."""
    return _page(request, "topics.html", "topics", "Topics")


@router.get("/new", response_class=HTMLResponse)
def new_page(request: Request) -> HTMLResponse:
    """New work: uploads or URLs with steps; narration of a text or document."""
    return _page(
        request,
        "new.html",
        "new",
        "New work",
        steps=PAGE_STEPS,
        default_steps=("probe", "audio", "transcribe"),
        image_sources=IMAGE_SOURCES,
    )


def _static_files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}


_STATIC = _static_files(STATIC_DIR)


def _docs_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).with_name("static")


#: Swagger UI and ReDoc files of the fastapi-offline package (swagger-ui-bundle.js,
#: swagger-ui.css, redoc.standalone.js, favicon.png)
_DOCS = _static_files(_docs_dir())
DOCS_STATIC = "/static/docs"


def _file_response(path: Path) -> Response:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type.endswith("javascript"):
        media_type += "; charset=utf-8"
    return Response(
        path.read_bytes(),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """One of the page's own static files (a fixed set: no path from the client is
    opened). Cached for an hour; the templates add ``?v=VERSION``."""
    path = _STATIC.get(name)
    if path is None:
        raise NotFoundError(f"no static file {name}", "the page's files are app.js and style.css")
    return _file_response(path)


#: the bundled Noto Sans CJK collection (``noto-cjk-sans-otc``, the subtitle renderer's
#: font), the style sheet's last resort for Chinese and Japanese text on a system with
#: no CJK font (``@font-face`` "vidpipe CJK": installed CJK fonts are tried first, and
#: its ``unicode-range`` makes the browser fetch it only for a page with such text)
CJK_FONT = "/static/fonts/noto-sans-cjk.ttc"


@router.get(CJK_FONT)
def cjk_font() -> Response:
    """The bundled Noto Sans CJK font collection (19 MB; the browser caches it a week).

    Raises:
        InputError: the font package is not installed (HTTP 400, as elsewhere).
    """
    from vidpipe.media.fonts import default_font_path

    return FileResponse(
        default_font_path(),
        media_type="font/collection",
        headers={"Cache-Control": "public, max-age=604800"},
    )


@router.get(DOCS_STATIC + "/{name}")
def docs_file(name: str) -> Response:
    """One file of Swagger UI or ReDoc, as packaged by ``fastapi-offline`` (a fixed
    set: no path from the client is opened)."""
    path = _DOCS.get(name)
    if path is None:
        raise NotFoundError(f"no docs file {name}", "see /docs or /redoc")
    return _file_response(path)


#: the docs pages load pictures from this service only (ReDoc's footer would fetch its
#: maker's logo from a CDN; Swagger UI could ask an online validator for a badge)
DOCS_CSP = "img-src 'self' data: blob:"


def docs_page(openapi_url: str, title: str) -> HTMLResponse:
    """Swagger UI (5.x: renders OpenAPI 3.1) of ``openapi_url``, its script and style
    served by this service (:func:`docs_file`), so it works with no internet."""
    resp = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
        swagger_favicon_url="/static/icon.svg",
        swagger_ui_parameters={"validatorUrl": None},
    )
    resp.headers["Content-Security-Policy"] = DOCS_CSP
    return resp


def redoc_page(openapi_url: str, title: str) -> HTMLResponse:
    """ReDoc (2.x) of ``openapi_url``, served by this service, no web fonts."""
    resp = get_redoc_html(
        openapi_url=openapi_url,
        title=title,
        redoc_js_url=f"{DOCS_STATIC}/redoc.standalone.js",
        redoc_favicon_url="/static/icon.svg",
        with_google_fonts=False,
    )
    resp.headers["Content-Security-Policy"] = DOCS_CSP
    return resp


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not request.url.path.startswith("/v1/")


async def not_found(request: Request, exc: Exception) -> Response:
    """404 for an unknown route: an HTML page for a browser (``Accept: text/html``,
    outside ``/v1/``), else the service's JSON error (the app's handler of
    ``HTTPException``). Install with ``app.add_exception_handler(404, not_found)``."""
    if _wants_html(request):
        resp = _page(request, "404.html", "missing", "Page not found", path=request.url.path)
        resp.status_code = 404
        return resp
    handler = request.app.exception_handlers.get(StarletteHTTPException)
    if handler is None or not isinstance(exc, StarletteHTTPException):
        return JSONResponse(
            {"error": {"type": "NotFound", "message": f"no route {request.url.path}"}}, 404
        )
    return await handler(request, exc)


class SessionIn(BaseModel):
    """The key typed into the page's sign-in form."""

    key: str = Field(min_length=1, max_length=1000)


@router.post("/session")
def sign_in(request: Request, body: SessionIn) -> JSONResponse:
    """Check ``key`` against the service's keys and keep it in the session cookie.

    Returns:
        ``{"ok": true}`` with the cookie set (HttpOnly, SameSite=Strict, no expiry:
        it ends with the browser session).

    Raises:
        HTTPException: 401 when the key is not one of the service's keys (the cookie is
            not set).
    """
    keys = _keys(request)
    if keys and not key_ok(body.key, keys):
        raise HTTPException(
            401,
            detail={"message": "wrong API key", "hint": "ask whoever runs this service for a key"},
        )
    resp = JSONResponse({"ok": True, "auth": bool(keys)})
    if keys:
        resp.set_cookie(
            SESSION_COOKIE,
            body.key,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return resp


@router.delete("/session")
def sign_out() -> JSONResponse:
    """Forget the session cookie."""
    resp = JSONResponse({"ok": True})
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp
