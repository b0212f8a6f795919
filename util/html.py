"""A small static HTML page writer (dominate) for training visuals and test results.

Image and link paths are given relative to the page's folder, so the folder can be moved or served as is.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence
from urllib.parse import quote

import dominate
from dominate.tags import a, br, div, figcaption, figure, h3, meta, p, span, style, table, td, th, tr, video
from dominate.tags import img as img_tag
from dominate.util import raw, text

from util.checkpoint import atomic_write_text

PAGE_CSS = """
body { font-family: sans-serif; margin: 12px; max-width: 100%; overflow-wrap: anywhere; }
img, video, svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; max-width: 100%; }
td, th { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
table.summary th { background: #f3f3f3; font-weight: normal; }
.row { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 8px; }
.row figure { margin: 0; max-width: 100%; }
.row figcaption { font-size: 12px; }
.grid { display: flex; flex-wrap: wrap; gap: 6px; }
.grid figure { margin: 0; font-size: 11px; text-align: center; }
.grid figure img { display: block; }
.plot { display: inline-block; max-width: 100%; }
.strip { display: flex; flex-wrap: wrap; gap: 1px; margin: 4px 0; }
.strip span { display: block; width: 8px; height: 14px; }
.key { background: #d62728; } .interpolated { background: #9ecae1; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; }
"""
"""Styles of the pages: everything wraps or scales down to the window's width (no horizontal scrolling)."""


class HTML:
    """An HTML page under ``web_dir`` made of headers and tables of captioned, linked images.

    Args:
        web_dir: Folder of the page; image paths are relative to it.
        title: Page title.
        refresh: If > 0, browsers reload the page every ``refresh`` seconds (a working
            ``<meta http-equiv="refresh">``; the reference misspelt the attribute).
        css: Style sheet of the page (default: :data:`PAGE_CSS`).
    """

    def __init__(self, web_dir: str | os.PathLike, title: str, refresh: int = 0, css: str = PAGE_CSS) -> None:
        self.web_dir = os.fspath(web_dir)
        self.title = title
        self.doc = dominate.document(title=title)
        with self.doc.head:
            meta(charset="utf-8")
            meta(name="viewport", content="width=device-width, initial-scale=1")
            if refresh > 0:
                meta(http_equiv="refresh", content=str(int(refresh)))
            if css:
                style(raw(css))

    def add_summary(self, rows: Sequence[tuple[str, str]]) -> None:
        """Append a two-column table of ``(what, value)`` rows (the run summary)."""
        with self.doc:
            with table(cls="summary"):
                for name, value in rows:
                    with tr():
                        th(name)
                        td(value)

    def add_strip(self, marks: Sequence[tuple[str, str, str]], legend: Sequence[tuple[str, str]]) -> None:
        """Append a strip of small coloured cells, one per item, each linking to its anchor, with a legend.

        Args:
            marks: ``(css class, tooltip, anchor id)`` per cell, in order.
            legend: ``(css class, meaning)`` per colour.
        """
        with self.doc:
            with div(cls="legend"):
                for css_class, meaning in legend:
                    span(cls=css_class)
                    text(meaning)
            with div(cls="strip"):
                for css_class, tooltip, anchor in marks:
                    a(span(cls=css_class), href=f"#{anchor}", title=tooltip)

    def add_svg(self, svg: str) -> None:
        """Append an SVG picture inline (it scales down with the window)."""
        with self.doc:
            div(raw(svg), cls="plot")

    def add_grid(self, cells: Sequence[tuple[Sequence[tuple[str, str]], str, str]], thumb_width: int = 160) -> None:
        """Append a wrapping grid of small thumbnails, lazy-loaded, each a link to its full-size file.

        Args:
            cells: ``(pictures, caption, anchor id)`` per cell, ``pictures`` being ``(thumbnail, full file)``
                pairs (relative paths) stacked in the cell.
            thumb_width: Displayed thumbnail width in pixels.
        """
        with self.doc:
            with div(cls="grid"):
                for pictures, caption, anchor in cells:
                    with figure(id=anchor, style=f"width:{int(thumb_width)}px"):
                        for thumbnail, full in pictures:
                            with a(href=relative_url(full), target="_blank"):
                                img_tag(src=relative_url(thumbnail), loading="lazy", width=int(thumb_width),
                                        alt=caption)
                        figcaption(caption)
    def add_header(self, text: str) -> None:
        """Append an ``<h3>`` header."""
        with self.doc:
            h3(text)

    def add_text(self, text: str) -> None:
        """Append a paragraph."""
        with self.doc:
            p(text)

    def add_link(self, text: str, href: str) -> None:
        """Append a paragraph holding one link (``href`` relative to the page)."""
        with self.doc:
            with p():
                a(text, href=relative_url(href))

    def add_video(self, src: str, width: int = 512, caption: str = "") -> None:
        """Append an HTML5 ``<video>`` player for ``src`` (relative to the page, at most ``width`` pixels wide
        and never wider than the window) with a caption and a download link."""
        with self.doc:
            with p():
                video(src=relative_url(src), controls=True, muted=True, preload="metadata", playsinline=True,
                      style=f"width:{int(width)}px; max-width:100%")
                br()
                if caption:
                    text(f"{caption} · ")
                a(os.path.basename(src), href=relative_url(src))

    def add_images(self, images: Sequence[str], captions: Sequence[str], links: Optional[Sequence[str]] = None,
                   width: int = 400) -> None:
        """Append a row of images (wrapping to the next line where the window is too narrow), each linked and
        above its caption.

        Args:
            images: Image paths relative to the page folder.
            captions: One caption per image.
            links: Link target per image (relative); defaults to the image itself.
            width: Displayed image width in pixels.

        Raises:
            ValueError: if the lengths of ``images``, ``captions`` and ``links`` differ.
        """
        links = list(images) if links is None else list(links)
        if not len(images) == len(captions) == len(links):
            raise ValueError(f"add_images needs as many captions and links as images, got {len(images)} "
                             f"images, {len(captions)} captions, {len(links)} links")
        with self.doc:
            with div(cls="row"):
                for image, caption, link in zip(images, captions, links):
                    with figure(style=f"width:{int(width)}px"):
                        with a(href=relative_url(link)):
                            img_tag(style="width:100%", src=relative_url(image))
                        figcaption(caption)

    def add_table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Append a table of text: a header row, then one row per entry of ``rows``."""
        with self.doc:
            with table(border=1, style="border-collapse: collapse;", cellpadding=4):
                with tr():
                    for cell in header:
                        th(cell)
                for row in rows:
                    with tr():
                        for cell in row:
                            td(cell)

    def render(self) -> str:
        """The page as an HTML string."""
        return self.doc.render()

    def save(self, file_name: str = "index.html") -> str:
        """Write the page atomically to ``web_dir/file_name`` and return its path."""
        path = os.path.join(self.web_dir, file_name)
        atomic_write_text(self.render(), path)
        return path


def relative_url(path: str) -> str:
    """A relative file path as a URL path (forward slashes, special characters escaped)."""
    return quote(path.replace(os.sep, "/"))
