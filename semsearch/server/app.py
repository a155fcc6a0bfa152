"""The FastAPI application: /search (GET and POST), /documents/{doc_id}, /health, /info, the page at /, /docs.

FastAPI (on Starlette, served by uvicorn) because it gives request validation with bounded fields and the
OpenAPI page from the same declarations; the page itself is static HTML + JS from `static/`, and the OpenAPI
pages' files (Swagger UI at /docs, ReDoc at /redoc) come from the fastapi-offline package: nothing is fetched
from outside.
"""

from __future__ import annotations

import hmac
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from semsearch import __version__
from semsearch.errors import SemsearchError
from semsearch.server.requests import MAX_BODY_BYTES, SearchBody, SearchQuery
from semsearch.server.service import IndexService, IndexUnavailable

if TYPE_CHECKING:
    from semsearch.handle import SearchIndex

STATIC = Path(__file__).parent / "static"
INDEX_ENV = "SEMSEARCH_SERVE_INDEX"
TOKEN_ENV = "SEMSEARCH_TOKEN"


class SearchResponse(BaseModel):
    """{"results": [...]}: each result is `semsearch.Result.to_dict()`."""

    results: list[dict[str, Any]]


class ErrorResponse(BaseModel):
    """A refused request: one line saying what to change."""

    error: str
    detail: Optional[list[dict[str, Any]]] = None


class BearerToken:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>` (the scheme in any case),
    except for the search page and its files, which hold no data: the page asks the user for the token."""

    def __init__(self, app, token: str):
        self.app = app
        self.expected = token.encode()

    @staticmethod
    def _page(scope) -> bool:
        return scope["method"] in ("GET", "HEAD") and (scope["path"] == "/" or scope["path"].startswith("/static/"))

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not self._page(scope):
            scheme, _, given = dict(scope["headers"]).get(b"authorization", b"").partition(b" ")
            if not (hmac.compare_digest(given.strip(), self.expected) and scheme.lower() == b"bearer"):
                refused = JSONResponse(
                    {"error": "missing or wrong token: send the header Authorization: Bearer <token>"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                return await refused(scope, receive, send)
        return await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is refused with 413 before it is parsed, whether it
    declares its length or streams in chunks (uvicorn bounds the URL and headers, not the body)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            return await self._refuse(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:  # a body streamed in chunks: stop reading it
                raise StarletteHTTPException(413, self._message)
            return message

        return await self.app(scope, counted, send)

    @property
    def _message(self) -> str:
        return f"the request body is over {self.limit} bytes: ask for less"

    async def _refuse(self, scope, receive, send):
        return await JSONResponse({"error": self._message}, status_code=413)(scope, receive, send)


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")).removeprefix("Value error, ")}
        for e in exc.errors()
    ]
    names = [".".join(p for p in d["loc"][1:] if not p.isdigit()) or d["loc"][0] if d["loc"] else "request" for d in detail]
    message = "; ".join(f"{name}: {d['msg']}" for name, d in zip(names, detail))
    return JSONResponse({"error": message or "invalid request", "detail": detail}, status_code=422)


def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _user_error(_request: Request, exc: SemsearchError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=400)


def _unavailable(_request: Request, exc: IndexUnavailable) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=503)


def create_app(index: str | Path | SearchIndex, token: str | None = None, warm: bool = True) -> FastAPI:
    """The application serving `index` (a folder, or any `semsearch.SearchIndex`); with `token`, every request
    must carry it."""
    service = IndexService(index)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if warm:
            service.warm()
        yield

    app = FastAPIOffline(  # FastAPI, with /docs and /redoc served from files under /static/docs/
        title="semsearch",
        version=__version__,
        description="Semantic search over news articles: hybrid dense + BM25, questions in Norwegian or English.",
        lifespan=lifespan,
        responses={code: {"model": ErrorResponse} for code in (400, 413, 422, 503)},
        static_url="/static/docs",  # mounted before /static, which holds the search page
    )
    app.state.service = service
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(SemsearchError, _user_error)
    app.add_exception_handler(IndexUnavailable, _unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    if token:
        app.add_middleware(BearerToken, token=token)  # added last, so it runs first
    _routes(app, service)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _routes(app: FastAPI, service: IndexService) -> None:
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    # HEAD apart, out of the schema: one route for both gave two operations of one id (a warning per /openapi.json)
    @app.head("/health", include_in_schema=False)
    @app.get("/health", summary="The live index: its generation and counts")
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok", **service.summary()})

    @app.get("/info", summary="Everything `semsearch info` says about the index")
    def info() -> JSONResponse:
        return JSONResponse(service.info())

    @app.get("/search", summary="Ask a question", responses={200: {"model": SearchResponse}})
    def search_get(params: Annotated[SearchQuery, Query()]) -> JSONResponse:
        found = service.search(params.q, params.k, params.mode, params.per_article, params.filters())
        return JSONResponse({"results": found})

    @app.post("/search", summary="Ask a question (JSON body)", responses={200: {"model": SearchResponse}})
    def search_post(body: SearchBody) -> JSONResponse:
        found = service.search(body.q, body.k, body.mode, body.per_article, body.filters())
        return JSONResponse({"results": found})

    @app.get("/documents/{doc_id:path}", summary="One article's text and metadata", responses={404: {"model": ErrorResponse}})
    def document(doc_id: str) -> JSONResponse:
        found = service.document(doc_id)
        if found is None:
            return JSONResponse({"error": f"no document '{doc_id[:200]}' in the index"}, status_code=404)
        return JSONResponse(found)


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` worker processes: index from $SEMSEARCH_SERVE_INDEX, token from $SEMSEARCH_TOKEN."""
    return create_app(os.environ[INDEX_ENV], os.environ.get(TOKEN_ENV) or None)
