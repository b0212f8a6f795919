"""A small static HTML page writer (dominate) for training visuals and test results.

Image and link paths are given relative to the page's folder, so the folder can be moved or served as is.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence
from urllib.parse import quote

import dominate
from dominate.tags import a, br, h3, meta, p, table, td, th, tr, video
from dominate.tags import img as img_tag

from util.checkpoint import atomic_write_text


class HTML:
    """An HTML page under ``web_dir`` made of headers and tables of captioned, linked images.

    Args:
        web_dir: Folder of the page; image paths are relative to it.
        title: Page title.
        refresh: If > 0, browsers reload the page every ``refresh`` seconds (a working
            ``<meta http-equiv="refresh">``; the reference misspelt the attribute).
    """

    def __init__(self, web_dir: str | os.PathLike, title: str, refresh: int = 0) -> None:
        self.web_dir = os.fspath(web_dir)
        self.title = title
        self.doc = dominate.document(title=title)
        with self.doc.head:
            meta(charset="utf-8")
            if refresh > 0:
                meta(http_equiv="refresh", content=str(int(refresh)))

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
                a(text, href=_url(href))

    def add_video(self, src: str, width: int = 512) -> None:
        """Append an HTML5 ``<video>`` player for ``src`` (relative to the page) with a download link."""
        with self.doc:
            with p():
                video(src=_url(src), controls=True, style=f"width:{int(width)}px")
                br()
                a(os.path.basename(src), href=_url(src))

    def add_images(self, images: Sequence[str], captions: Sequence[str], links: Optional[Sequence[str]] = None,
                   width: int = 400) -> None:
        """Append a one-row table: each cell is an image (linked) above its caption.

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
            with table(border=1, style="table-layout: fixed;"):
                with tr():
                    for image, caption, link in zip(images, captions, links):
                        with td(style="word-wrap: break-word;", halign="center", valign="top"):
                            with a(href=_url(link)):
                                img_tag(style=f"width:{int(width)}px", src=_url(image))
                            br()
                            p(caption)

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


def _url(path: str) -> str:
    """A relative file path as a URL path (forward slashes, special characters escaped)."""
    return quote(path.replace(os.sep, "/"))
