"""Rendering: Jinja2 templates to HTML (CSS inlined) and plain text, the standalone
reports' index, and atomic file writes.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from btm.errors import ConfigurationError, DeliveryError
from btm.reporting.context import ReportContext
from btm.resources import TEMPLATES_DIR, first_file, reread_when_changed

# matplotlib is imported where charts are drawn, Jinja2 and the CSS inliner where a report
# is rendered: not by every command that loads the pipeline.
if TYPE_CHECKING:
    from btm.reporting.charts import Chart


HTML_TEMPLATE = "email.html.j2"


TEXT_TEMPLATE = "email.txt.j2"


CSS_FILE = "report.css"


INDEX_FILE = "index.html"


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    html: str
    text: str
    images: tuple[Chart, ...] = ()  # referenced by the HTML as cid:<name>@btm


def image_sources(images: Sequence[Chart], *, standalone: bool) -> dict[str, str]:
    """How the HTML refers to each chart: by Content-ID in an email, as a data: URI in a
    standalone file (one file that needs nothing else)."""
    if standalone:
        return {
            c.name: "data:image/png;base64," + base64.b64encode(c.png).decode("ascii")
            for c in images
        }
    return {c.name: f"cid:{c.name}@btm" for c in images}


_BAND = re.compile(r"\.band-([\w-]+)\s*\{[^}]*?background-color:\s*(#[0-9a-fA-F]{3,8})")


def band_colours(templates: Sequence[Path] = (TEMPLATES_DIR,)) -> dict[str, str]:
    """Each level band's colour ("1".."5", "unknown"), as the report's stylesheet paints
    it: the charts beside the HTML take theirs from the same rules, defined once."""
    return _bands(first_file(CSS_FILE, templates))


@reread_when_changed
def _bands(path: Path) -> dict[str, str]:
    try:
        css = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"{path}: cannot read the report stylesheet ({exc.strerror}); "
            "check that the reports/ folder is complete"
        ) from exc
    return dict(_BAND.findall(css))


def render_report(
    context: ReportContext, *, templates: Sequence[Path] = (TEMPLATES_DIR,)
) -> RenderedReport:
    """The full report in the email templates, without charts or an audience."""
    return render_templates(
        HTML_TEMPLATE,
        TEXT_TEMPLATE,
        subject=context.subject,
        report=context,
        templates=templates,
    )


def render_templates(
    html_template: str,
    text_template: str,
    *,
    subject: str,
    report: ReportContext | None,
    view: Any = None,
    images: Sequence[Chart] = (),
    standalone: bool = False,
    report_url: str | None = None,
    templates: Sequence[Path] = (TEMPLATES_DIR,),
) -> RenderedReport:
    """Fill an HTML and a text template; the HTML comes out with its CSS inlined. Each
    template is taken from the first of `templates` that has it (the PMO's folder in
    BTM_HOME first, then the shipped templates)."""
    import css_inline
    from jinja2 import (
        Environment,
        FileSystemLoader,
        StrictUndefined,
        TemplateError,
        select_autoescape,
    )
    from markupsafe import Markup

    environment = Environment(
        loader=FileSystemLoader(list(templates)),
        # Only the HTML is escaped: a unit named "<script>" must stay text there, while
        # the plain-text twin shows names exactly as they are.
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    values = {
        "report": report,
        "view": view,
        "charts": {c.name: c for c in images},
        "images": image_sources(images, standalone=standalone),
        "standalone": standalone,
        "report_url": report_url,
    }
    css_path = first_file(CSS_FILE, templates)
    try:
        css = css_path.read_text(encoding="utf-8")
        html = environment.get_template(html_template).render(css=Markup(css), **values)
        text = environment.get_template(text_template).render(**values)
    except OSError as exc:
        raise ConfigurationError(
            f"{css_path}: cannot read the report stylesheet ({exc.strerror}); "
            "check that the reports/ folder is complete"
        ) from exc
    except TemplateError as exc:
        raise ConfigurationError(
            f"{templates[0]}: report template error: {exc}; fix the template in reports/"
        ) from exc
    # Mail clients drop <style> blocks or parts of them, so every rule goes into style=
    # attributes; @media rules cannot be inlined and stay in a <style> block for the
    # clients that honour it (narrow screens).
    inliner = css_inline.CSSInliner(
        keep_at_rules=True, load_remote_stylesheets=False, apply_width_attributes=True
    )
    return RenderedReport(
        subject=subject,
        html=_escape_attribute_brackets(inliner.inline(html)),
        text=text,
        images=() if standalone else tuple(images),
    )


_ATTRIBUTE = re.compile(r'(=")([^"]*)(")')


def _escape_attribute_brackets(html: str) -> str:
    """The inliner serialises HTML5-style, leaving `<` and `>` bare inside quoted
    attribute values. Harmless to a browser, but a name like "<script>" must read as
    escaped in every output, alt texts included, so they are escaped again."""
    return _ATTRIBUTE.sub(
        lambda m: m.group(1) + m.group(2).replace("<", "&lt;").replace(">", "&gt;") + m.group(3),
        html,
    )


def write_index(reports_dir: Path, templates: Sequence[Path] = (TEMPLATES_DIR,)) -> Path:
    """`reports_dir/index.html`: every cycle's standalone reports, newest cycle first,
    one link per audience, written from the files that are there."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    cycles = (
        sorted(
            (d for d in reports_dir.iterdir() if d.is_dir() and not d.name.startswith(".")),
            key=lambda d: d.name,
            reverse=True,
        )
        if reports_dir.exists()
        else []
    )
    rows = [
        (d.name, sorted(f.stem for f in d.glob("*.html") if not f.name.startswith(".")))
        for d in cycles
    ]
    environment = Environment(
        loader=FileSystemLoader(list(templates)),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = environment.get_template("index.html.j2").render(cycles=[r for r in rows if r[1]])
    path = reports_dir / INDEX_FILE
    write_file_atomically(path, html.encode("utf-8"))
    return path


def write_file_atomically(path: Path, content: bytes) -> None:
    """Write through a temporary file in the same folder, so readers never see half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(content)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise DeliveryError(
            f"{path}: cannot write ({exc.strerror or exc}); check that BTM_HOME points at a "
            "writable folder with free space"
        ) from exc
