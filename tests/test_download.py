"""util/download.py and the download scripts, against a local HTTP server (never the real URLs)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

import pytest
import torch

from util.cli import run
from util.download import DownloadError, download, extract_archive, fetch, google_drive_url

REPO = Path(__file__).resolve().parent.parent
PAYLOAD = bytes(range(256)) * 400  # 102400 bytes
FAST = {"timeout": 5, "retry_wait": 0}


@dataclass
class Resource:
    """A file the test server serves: its bytes, ETag, whether it honours Range and sends Content-Length, and
    how many bytes each coming request gets before the connection is closed (``cuts``; then whole bodies)."""

    data: bytes = PAYLOAD
    etag: Optional[str] = '"v1"'
    ranges: bool = True
    length: bool = True
    cuts: list = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    """Serves ``resources`` (Range + If-Range, 416 past the end), ``/html`` (a web page) and 404 elsewhere."""

    resources: dict = {}
    seen: list = []

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.seen.append({"path": self.path, "Range": self.headers.get("Range"),
                          "If-Range": self.headers.get("If-Range")})
        if self.path == "/html":
            self._head(200, {"Content-Type": "text/html; charset=utf-8"})
            self.wfile.write(b"<html>quota exceeded</html>")
            return
        res = self.resources.get(self.path)
        if res is None:
            self._head(404, {"Content-Length": "9"})
            self.wfile.write(b"not found")
            return
        start, status, headers = self._range(res)
        if status == 416:
            self._head(416, {"Content-Range": f"bytes */{len(res.data)}", "Content-Length": "0"})
            return
        body = res.data[start:]
        if res.length:
            headers["Content-Length"] = str(len(body))
        if res.etag:
            headers["ETag"] = res.etag
        self._head(status, headers)
        cut = res.cuts.pop(0) if res.cuts else None
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        self.close_connection = True

    def _range(self, res: Resource) -> tuple[int, int, dict]:
        header, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        if header is None or not res.ranges or (if_range is not None and if_range != res.etag):
            return 0, 200, {}
        start = int(header.split("=")[1].split("-")[0])
        if start >= len(res.data):
            return start, 416, {}
        return start, 206, {"Content-Range": f"bytes {start}-{len(res.data) - 1}/{len(res.data)}"}

    def _head(self, status: int, headers: dict) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1 (random port), shut down after the test."""
    _Handler.resources = {"/file": Resource()}
    _Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _part(dest: Path) -> Path:
    return Path(str(dest) + ".part")


def _validator(dest: Path) -> Path:
    return Path(str(dest) + ".part.validator")


def _zip_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def _tar_gz_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _torch_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- transfer, resume, verification
def test_download_and_checksum(server, tmp_path) -> None:
    base, _ = server
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = download(f"{base}/file", tmp_path / "sub" / "a.bin", sha256=digest, **FAST)
    assert Path(path).read_bytes() == PAYLOAD
    assert not _part(Path(path)).exists() and not _validator(Path(path)).exists()


def test_unknown_checksum_is_logged(server, tmp_path, caplog) -> None:
    base, _ = server
    with caplog.at_level(logging.INFO, logger="util.archives"):
        download(f"{base}/file", tmp_path / "a.bin", **FAST)
    assert hashlib.sha256(PAYLOAD).hexdigest() in caplog.text


def test_checksum_mismatch_deletes_file_after_bounded_retries(server, tmp_path) -> None:
    base, handler = server
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        download(f"{base}/file", dest, sha256="0" * 64, retries=2, **FAST)
    assert str(dest.resolve()) in str(info.value) and f"{base}/file" in str(info.value)
    assert not dest.exists() and not _part(dest).exists()
    assert len(handler.seen) == 2


def test_pinned_size_mismatch_is_refused(server, tmp_path) -> None:
    base, _ = server
    with pytest.raises(DownloadError, match="size mismatch"):
        download(f"{base}/file", tmp_path / "a.bin", size=len(PAYLOAD) + 1, retries=1, **FAST)


def test_interrupted_download_resumes_with_if_range(server, tmp_path) -> None:
    base, handler = server
    handler.resources["/file"].cuts = [30000]
    dest = tmp_path / "a.bin"
    download(f"{base}/file", dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(), **FAST)
    assert dest.read_bytes() == PAYLOAD and not _part(dest).exists()
    assert handler.seen[1] == {"path": "/file", "Range": "bytes=30000-", "If-Range": '"v1"'}


def test_failed_run_keeps_a_resumable_part_for_the_next_run(server, tmp_path) -> None:
    base, handler = server
    handler.resources["/file"].cuts = [1000, 0]
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError, match="resumed on the next run"):
        download(f"{base}/file", dest, retries=2, **FAST)
    assert _part(dest).stat().st_size == 1000 and _validator(dest).read_text() == '"v1"'
    download(f"{base}/file", dest, **FAST)
    assert handler.seen[-1]["Range"] == "bytes=1000-" and dest.read_bytes() == PAYLOAD


def test_stale_part_of_a_changed_file_is_not_spliced(server, tmp_path) -> None:
    base, handler = server
    dest = tmp_path / "a.bin"
    _part(dest).write_bytes(b"old bytes of the previous version" * 10)
    _validator(dest).write_text('"v0"')
    new = bytes(reversed(PAYLOAD))
    handler.resources["/file"] = Resource(data=new, etag='"v1"')
    download(f"{base}/file", dest, **FAST)
    assert handler.seen[0]["If-Range"] == '"v0"'  # the server sends the whole new file (200), not a range
    assert dest.read_bytes() == new


def test_part_without_validator_restarts_from_zero(server, tmp_path) -> None:
    base, handler = server
    dest = tmp_path / "a.bin"
    _part(dest).write_bytes(b"x" * 5000)
    download(f"{base}/file", dest, **FAST)
    assert handler.seen[0]["Range"] is None and dest.read_bytes() == PAYLOAD


@pytest.mark.parametrize("extra", [0, 1000])
def test_part_as_long_or_longer_than_the_file(server, tmp_path, extra) -> None:
    base, handler = server
    dest = tmp_path / "a.bin"
    _part(dest).write_bytes(PAYLOAD + b"y" * extra)  # a run that died before renaming / a longer stale file
    _validator(dest).write_text('"v1"')
    download(f"{base}/file", dest, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert len(handler.seen) == (1 if extra == 0 else 2)  # 416: complete, or restarted from zero


def test_server_ignoring_range_restarts_from_zero(server, tmp_path) -> None:
    base, handler = server
    handler.resources["/file"] = Resource(ranges=False, cuts=[50000])
    dest = tmp_path / "a.bin"
    download(f"{base}/file", dest, **FAST)
    assert handler.seen[1]["Range"] == "bytes=50000-" and dest.read_bytes() == PAYLOAD


def test_archive_cut_short_without_content_length_is_fetched_again(server, tmp_path) -> None:
    base, handler = server
    archive = _tar_gz_bytes({"inside/a.bin": os.urandom(50000)})
    handler.resources["/a.tar.gz"] = Resource(data=archive, etag=None, length=False, cuts=[len(archive) // 2])
    dest = tmp_path / "a.tar.gz"
    download(f"{base}/a.tar.gz", dest, **FAST)
    assert dest.read_bytes() == archive and len(handler.seen) == 2
    handler.resources["/a.tar.gz"].cuts = [len(archive) // 2] * 3
    with pytest.raises(DownloadError, match="not a complete tar archive") as info:
        download(f"{base}/a.tar.gz", tmp_path / "b.tar.gz", retries=3, **FAST)
    assert str((tmp_path / "b.tar.gz").resolve()) in str(info.value)
    assert not (tmp_path / "b.tar.gz").exists() and not _part(tmp_path / "b.tar.gz").exists()


@pytest.mark.parametrize("name", ["model.pth", "FlowNet2_checkpoint.pth.tar", "models.zip"])
def test_truncated_checkpoint_or_zip_without_length_is_refused(server, tmp_path, name) -> None:
    base, handler = server
    data = (_zip_bytes({"a/latest_net_G0.pth": os.urandom(40000)}) if name.endswith(".zip")
            else _torch_bytes({"state_dict": {"w": torch.randn(100, 100)}, "epoch": 3}))
    handler.resources[f"/{name}"] = Resource(data=data, etag=None, length=False, cuts=[len(data) - 100])
    download(f"{base}/{name}", tmp_path / name, **FAST)
    assert (tmp_path / name).read_bytes() == data and len(handler.seen) == 2


def test_existing_truncated_archive_is_deleted_and_fetched_again(server, tmp_path) -> None:
    base, handler = server
    archive = _tar_gz_bytes({"inside/hello.txt": b"hi" * 10000})
    handler.resources["/a.tar.gz"] = Resource(data=archive)
    dest = tmp_path / "a.tar.gz"
    dest.write_bytes(archive[: len(archive) // 2])  # crashed extraction with EOFError on every rerun before
    fetch(f"{base}/a.tar.gz", str(dest), extract_to=str(tmp_path / "out"), **FAST)
    assert (tmp_path / "out" / "inside" / "hello.txt").read_bytes() == b"hi" * 10000


@pytest.mark.parametrize("path, message", [("/missing", "404"), ("/html", "web page")])
def test_failure_message_names_url_and_destination(server, tmp_path, path: str, message: str) -> None:
    base, handler = server
    dest = tmp_path / "model.zip"
    with pytest.raises(DownloadError) as info:
        download(f"{base}{path}", dest, page="https://example.invalid/page", **FAST)
    text = str(info.value)
    assert message in text and f"{base}{path}" in text
    assert "https://example.invalid/page" in text and str(dest.resolve()) in text
    assert not dest.exists() and len(handler.seen) == 1  # not retried


# ---------------------------------------------------------------- extraction
def _zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def _tar(path: Path, members: list) -> Path:
    with tarfile.open(path, "w:gz") as bundle:
        for info, data in members:
            bundle.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x") -> tuple:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def test_extract_good_archives(tmp_path) -> None:
    good_zip = _zip(tmp_path / "good.zip", {"d/a.txt": b"A", "b.txt": b"B"})
    assert sorted(extract_archive(good_zip, tmp_path / "z")) == ["b.txt", "d/a.txt"]
    assert (tmp_path / "z" / "d" / "a.txt").read_bytes() == b"A"
    good_tar = _tar(tmp_path / "good.tar.gz", [_file("d/a.txt", b"A"), _link("d/l", "a.txt")])
    extract_archive(good_tar, tmp_path / "t")
    assert (tmp_path / "t" / "d" / "l").read_bytes() == b"A"


@pytest.mark.parametrize("kind", ["zip_dotdot", "zip_abs", "tar_dotdot", "tar_abs", "tar_symlink_out",
                                  "tar_symlink_abs", "tar_hardlink_out"])
def test_extract_refuses_escaping_members(tmp_path, kind: str) -> None:
    bad = {
        "zip_dotdot": lambda p: _zip(p, {"ok.txt": b"1", "../evil.txt": b"2"}),
        "zip_abs": lambda p: _zip(p, {"ok.txt": b"1", "/tmp/evil_vid2vid.txt": b"2"}),
        "tar_dotdot": lambda p: _tar(p, [_file("ok.txt"), _file("d/../../evil.txt")]),
        "tar_abs": lambda p: _tar(p, [_file("ok.txt"), _file("/tmp/evil_vid2vid.txt")]),
        "tar_symlink_out": lambda p: _tar(p, [_file("ok.txt"), _link("d/link", "../../evil.txt")]),
        "tar_symlink_abs": lambda p: _tar(p, [_file("ok.txt"), _link("link", "/etc/passwd")]),
        "tar_hardlink_out": lambda p: _tar(p, [_file("ok.txt"), _link("link", "../evil.txt", tarfile.LNKTYPE)]),
    }[kind](tmp_path / "bad.archive")
    target = tmp_path / "out" / "target"
    with pytest.raises(DownloadError, match="refusing"):
        extract_archive(bad, target)
    assert list(target.iterdir()) == []  # checked before anything is written
    assert not (tmp_path / "out" / "evil.txt").exists()


def test_extract_rejects_non_archive(tmp_path) -> None:
    page = tmp_path / "models.zip"
    page.write_text("<html>sign in</html>")
    with pytest.raises(DownloadError, match="neither a zip nor a tar"):
        extract_archive(page, tmp_path / "x")


def test_fetch_uses_existing_file_without_network(tmp_path) -> None:
    archive = _zip(tmp_path / "manual.zip", {"model/latest_net_G0.pth": b"w"})
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    # Port 9 is never contacted: the manually placed file is verified and extracted.
    fetch("http://127.0.0.1:9/never", str(archive), sha256=digest, extract_to=str(tmp_path / "ck"))
    assert (tmp_path / "ck" / "model" / "latest_net_G0.pth").read_bytes() == b"w"
    with pytest.raises(DownloadError, match="checksum") as info:  # deleted, then the download fails
        fetch("http://127.0.0.1:9/never", str(archive), sha256="f" * 64, retries=1, **FAST)
    assert "failed verification" in str(info.value) and not archive.exists()


def _load_script(relative: str):
    spec = importlib.util.spec_from_file_location(relative.replace("/", "_")[:-3], REPO / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPTS = {
    "scripts/download_datasets.py": ("1rPcbnanuApZeo2uc7h55OneBkbcFCnnf", "datasets/datasets.zip", "datasets"),
    "scripts/download_models_flownet2.py": ("1E8re-b6csNuo-abg1vJKCDjCzlIam50F",
                                            "checkpoints/flownet2/FlowNet2_checkpoint.pth.tar", None),
    "scripts/street/download_models.py": ("1MKtImgtnGC28EPU7Nh9DfFpHW6okNVkl", "checkpoints/models.zip",
                                          "checkpoints"),
    "scripts/street/download_models_g1.py": ("1QoE1p3QikxNVbbTBWWRDtIspg-RcLE8y", "checkpoints/models_g1.zip",
                                             "checkpoints"),
    "scripts/face/download_models.py": ("10LvNw-2lrh-6sPGkWbQDfHspkqz5AKxb", "checkpoints/models_face.zip",
                                        "checkpoints"),
}


@pytest.mark.parametrize("relative", sorted(SCRIPTS))
def test_download_scripts_end_to_end(server, tmp_path, capsys, relative: str) -> None:
    base, handler = server
    file_id, dest, extract_to = SCRIPTS[relative]
    module = _load_script(relative)
    assert module.FILE_ID == file_id and file_id in google_drive_url(file_id)
    assert [(f.dest, f.extract_to) for f in module.FILES] == [(dest, extract_to)] and module.FILES[0].sha256 is None
    if dest.endswith(".pth.tar"):  # verified by opening it weights-only
        payload = _torch_bytes({"state_dict": {"w": torch.ones(3)}})
    else:
        payload = _zip(tmp_path / "src.zip", {"inside/hello.txt": b"hi"}).read_bytes()
    handler.resources["/mirror.bin"] = Resource(data=payload)
    root = tmp_path / "root"
    assert run(module.main, ["--root", str(root), "--url", f"{base}/mirror.bin"], returns_code=True) == 0
    assert (root / dest).read_bytes() == payload
    if extract_to is not None:
        assert (root / extract_to / "inside" / "hello.txt").read_bytes() == b"hi"
    capsys.readouterr()
    assert run(module.main, ["--root", str(tmp_path / "other"), "--url", f"{base}/missing"], returns_code=True) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: downloading") and "404" in err and str(tmp_path / "other" / dest) in err
    assert not os.path.exists(tmp_path / "other" / dest)


def test_script_refuses_a_file_that_is_not_what_its_name_says(server, tmp_path, capsys) -> None:
    base, handler = server
    handler.resources["/page.bin"] = Resource(data=b"<p>sign in</p>" * 100)
    module = _load_script("scripts/download_models_flownet2.py")
    code = run(module.main, ["--root", str(tmp_path), "--url", f"{base}/page.bin", "--retries", "2"], returns_code=True)
    err = capsys.readouterr().err
    assert code == 2 and "weights-only" in err and "after 2 attempt(s)" in err
    assert not (tmp_path / "checkpoints" / "flownet2" / "FlowNet2_checkpoint.pth.tar").exists()
