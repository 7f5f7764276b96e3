"""Render the product's HTML in headless Chromium and report what a reader would get.

`launch` starts Debian's Chromium (never a browser Playwright downloads) with the flags
that keep it off the network; `render` loads one HTML document into a fresh page of a
given width, blocks every request it makes, and returns its full-page screenshot with
the console errors and warnings, uncaught exceptions, dialogs and requests it produced.
An email's HTML reaches its images through `cid:` URLs, which a browser cannot resolve:
`email_html` and `inline_cids` turn them into data: URIs first.

Keep one browser for many renderings: it takes about a second to start, a page a few
hundred milliseconds. While a browser is open, the sync Playwright driver holds an
asyncio loop on this thread, so `asyncio.run` fails here until it is closed: scope it
to the tests that render, not to the whole session.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote

from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Request, Route, sync_playwright

REPO = Path(__file__).resolve().parents[1]

# The background-networking flags keep Chromium from calling Google's services at start,
# which this machine's closed network refuses, many connections at a time.
CHROMIUM_FLAGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
)

# Not requests: the page's own data, and the empty document set_content writes into.
_LOCAL_SCHEMES = ("data:", "about:", "blob:")
_CID = re.compile(r"""cid:([^"'\s)>]+)""", re.IGNORECASE)
_IMAGE_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)


class BrowserMissing(RuntimeError):
    """Chromium cannot be started here; the message says what to install."""


@dataclass(frozen=True)
class Picture:
    """What a screenshot shows, in numbers that tell a page from a blank one."""

    width: int
    height: int
    colours: int  # distinct RGB colours
    ink: float  # share of pixels that are not pure white, 0..1


@dataclass(frozen=True)
class Rendering:
    """One document rendered at one width."""

    screenshot: Path
    picture: Picture
    console_errors: tuple[str, ...]
    console_warnings: tuple[str, ...]
    page_errors: tuple[str, ...]  # uncaught exceptions
    requests: tuple[str, ...]  # every URL the page asked for (all blocked), data: aside
    dialogs: tuple[str, ...]  # alert/confirm/prompt, as "alert: <message>"
    body_text: str  # document.body's innerText: what a reader sees
    scroll_width: int  # document.documentElement.scrollWidth: > width means a side scroll


def find_chromium() -> str | None:
    """Debian's chromium on PATH, else None."""
    return shutil.which("chromium")


@contextmanager
def launch() -> Iterator[Browser]:
    """A headless Chromium for rendering; raises BrowserMissing when there is none."""
    executable = find_chromium()
    if executable is None:
        raise BrowserMissing("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            # Chromium's sandbox refuses to start as root; elsewhere keep it.
            chromium_sandbox=os.geteuid() != 0,
        )
        try:
            yield browser
        finally:
            browser.close()


def artifacts_dir() -> Path:
    """Where screenshots go: $BTM_TEST_ARTIFACTS, else <repo>/.artifacts/screenshots."""
    configured = os.environ.get("BTM_TEST_ARTIFACTS")
    return Path(configured) if configured else REPO / ".artifacts" / "screenshots"


def artifact_name(test_name: str) -> str:
    """A file-name stem for a test: `test_x[email-600]` -> `test_x-email-600`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-")


def render(browser: Browser, html: str | Path, *, out: Path, width: int = 600) -> Rendering:
    """Load `html` (markup, or the path of a file of it) into a new page `width` px wide
    with no base URL, as a mail client would, and save its full-page screenshot at `out`.
    Every request the page makes is blocked and listed in the result."""
    markup = html.read_text(encoding="utf-8") if isinstance(html, Path) else html
    errors: list[str] = []
    warnings: list[str] = []
    page_errors: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        location = message.location
        line = f"{message.text} ({location.get('url') or 'page'}:{location.get('lineNumber')})"
        if message.type == "error":
            errors.append(line)
        elif message.type == "warning":
            warnings.append(line)

    def on_request(request: Request) -> None:
        if not request.url.startswith(_LOCAL_SCHEMES) and request.url not in requests:
            requests.append(request.url)

    def block(route: Route) -> None:
        on_request(route.request)
        route.abort("blockedbyclient")

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    context = browser.new_context(
        viewport={"width": width, "height": 800}, service_workers="block", locale="en-GB"
    )
    try:
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.on("request", on_request)
        page.on("websocket", lambda socket: requests.append(socket.url))
        page.on("dialog", on_dialog)
        page.route("**/*", block)
        page.set_content(markup, wait_until="load")
        page.evaluate("document.fonts.ready.then(() => true)")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=out, full_page=True, animations="disabled")
        body_text = page.inner_text("body")
        scroll_width = int(page.evaluate("document.documentElement.scrollWidth"))
    finally:
        context.close()
    return Rendering(
        screenshot=out,
        picture=look_at(out),
        console_errors=tuple(errors),
        console_warnings=tuple(warnings),
        page_errors=tuple(page_errors),
        requests=tuple(requests),
        dialogs=tuple(dialogs),
        body_text=body_text,
        scroll_width=scroll_width,
    )


def look_at(path: Path) -> Picture:
    """Size, distinct colours and share of non-white pixels of an image file."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    pixels = rgb.width * rgb.height
    colours = rgb.getcolors(maxcolors=pixels) or []
    white = next((count for count, colour in colours if colour == (255, 255, 255)), 0)
    return Picture(
        width=rgb.width,
        height=rgb.height,
        colours=len(colours),
        ink=(pixels - white) / pixels if pixels else 0.0,
    )


def inline_cids(html: str, images: Mapping[str, bytes]) -> str:
    """Replace each `cid:<id>` with a data: URI of images[<id>] (ids without the angle
    brackets of the Content-ID header). An id with no image is a KeyError naming it."""

    def data_uri(match: re.Match[str]) -> str:
        content_id = unquote(match.group(1))
        if content_id not in images:
            known = ", ".join(sorted(images)) or "none"
            raise KeyError(f"the HTML refers to cid:{content_id}; the images are: {known}")
        content = images[content_id]
        kind = next((t for magic, t in _IMAGE_TYPES if content.startswith(magic)), "image/png")
        return f"data:{kind};base64,{base64.b64encode(content).decode('ascii')}"

    return _CID.sub(data_uri, html)


def email_html(message: EmailMessage) -> str:
    """The text/html part of a message, with the message's own images inlined."""
    body = message.get_body(preferencelist=("html",))
    if body is None:
        raise ValueError("the message has no text/html part")
    images: dict[str, bytes] = {}
    for part in message.walk():
        content_id = part["Content-ID"]
        if content_id and not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                images[str(content_id).strip().strip("<>")] = payload
    return inline_cids(str(body.get_content()), images)
