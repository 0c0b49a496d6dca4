"""The console over HTTP: one static page (``console/``: its HTML, script and style, and the
vendored Chart.js) that logs in through identity and draws the caller's reports. The files are
public — they hold no data; the reports they call need a token like any other caller's."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from lookout_kit.errors import NotFound

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"
ASSETS: dict[str, tuple[Path, str]] = {
    "console.js": (CONSOLE_DIR / "console.js", "text/javascript; charset=utf-8"),
    "console.css": (CONSOLE_DIR / "console.css", "text/css; charset=utf-8"),
    "chart.umd.min.js": (
        CONSOLE_DIR / "vendor" / "chart.js" / "chart.umd.min.js",
        "text/javascript; charset=utf-8",
    ),
}
"""Every file the page loads, by the name it loads it under: nothing else is served."""
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""No inline script or style, and no other origin: the page talks to the gateway only."""
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(
        CONSOLE_DIR / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS
    )


@router.get("/{asset}")
async def asset(asset: str) -> FileResponse:
    found = ASSETS.get(asset)
    if found is None:
        raise NotFound("the console has no such file")
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers=HEADERS)
