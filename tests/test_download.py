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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from util.download import (
    DownloadError,
    download,
    extract_archive,
    fetch,
    google_drive_url,
)

REPO = Path(__file__).resolve().parent.parent
PAYLOAD = bytes(range(256)) * 400  # 102400 bytes


class _Handler(BaseHTTPRequestHandler):
    """Serves PAYLOAD at /file (with Range), /cut (closes half-way), /norange, /html and 404 elsewhere."""

    ranges: list = []
    files: dict = {}

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def _send(self, status: int, body: bytes, headers: dict) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.ranges.append(self.headers.get("Range"))
        data = self.files.get(self.path, PAYLOAD)
        if self.path == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/html":
            self._send(200, b"<html>quota exceeded</html>", {"Content-Type": "text/html; charset=utf-8"})
        elif self.path == "/norange" or self.path in self.files:
            self._send(200, data, {"Content-Length": str(len(data))})
        elif self.path == "/file":
            self._serve_range(data)
        else:
            self._send(404, b"not found", {"Content-Length": "9"})

    def _serve_range(self, data: bytes) -> None:
        header = self.headers.get("Range")
        if header is None:
            self._send(200, data, {"Content-Length": str(len(data))})
            return
        start = int(header.split("=")[1].split("-")[0])
        if start >= len(data):
            self._send(416, b"", {"Content-Range": f"bytes */{len(data)}", "Content-Length": "0"})
            return
        body = data[start:]
        self._send(206, body, {"Content-Length": str(len(body)),
                               "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1 (random port), shut down after the test."""
    _Handler.ranges = []
    _Handler.files = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_download_and_checksum(server, tmp_path) -> None:
    base, _ = server
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = download(f"{base}/file", tmp_path / "sub" / "a.bin", sha256=digest, timeout=5)
    assert Path(path).read_bytes() == PAYLOAD
    assert not Path(path + ".part").exists()


def test_unknown_checksum_is_logged(server, tmp_path, caplog) -> None:
    base, _ = server
    with caplog.at_level(logging.INFO, logger="util.download"):
        download(f"{base}/file", tmp_path / "a.bin", timeout=5)
    assert hashlib.sha256(PAYLOAD).hexdigest() in caplog.text


def test_checksum_mismatch_deletes_file(server, tmp_path) -> None:
    base, _ = server
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        download(f"{base}/file", dest, sha256="0" * 64, timeout=5)
    assert str(dest.resolve()) in str(info.value)
    assert not dest.exists() and not Path(str(dest) + ".part").exists()


def test_interrupted_download_resumes_with_range(server, tmp_path) -> None:
    base, handler = server
    dest = tmp_path / "a.bin"
    part = Path(str(dest) + ".part")
    with pytest.raises(DownloadError, match="resumed on the next run"):
        download(f"{base}/cut", dest, timeout=5)
    kept = part.stat().st_size
    assert 0 < kept < len(PAYLOAD) and not dest.exists()
    download(f"{base}/file", dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(), timeout=5)
    assert handler.ranges[-1] == f"bytes={kept}-"
    assert dest.read_bytes() == PAYLOAD and not part.exists()


def test_server_without_range_restarts_and_complete_part_is_kept(server, tmp_path) -> None:
    base, handler = server
    dest = tmp_path / "a.bin"
    Path(str(dest) + ".part").write_bytes(PAYLOAD[:1000])
    download(f"{base}/norange", dest, timeout=5)
    assert dest.read_bytes() == PAYLOAD
    Path(str(dest) + ".part").write_bytes(PAYLOAD)  # a run that died just before renaming
    download(f"{base}/file", tmp_path / "a.bin", timeout=5)
    assert handler.ranges[-1] == f"bytes={len(PAYLOAD)}-"
    assert dest.read_bytes() == PAYLOAD


@pytest.mark.parametrize("path, message", [("/missing", "404"), ("/html", "web page")])
def test_failure_message_names_url_and_destination(server, tmp_path, path: str, message: str) -> None:
    base, _ = server
    dest = tmp_path / "model.zip"
    with pytest.raises(DownloadError) as info:
        download(f"{base}{path}", dest, timeout=5, page="https://example.invalid/page")
    text = str(info.value)
    assert message in text and f"{base}{path}" in text
    assert "https://example.invalid/page" in text and str(dest.resolve()) in text
    assert not dest.exists()


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
    with pytest.raises(DownloadError, match="checksum"):
        fetch("http://127.0.0.1:9/never", str(archive), sha256="f" * 64)


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
def test_download_scripts_end_to_end(server, tmp_path, relative: str) -> None:
    base, handler = server
    file_id, dest, extract_to = SCRIPTS[relative]
    module = _load_script(relative)
    assert module.FILE_ID == file_id and file_id in google_drive_url(file_id)
    archive = _zip(tmp_path / "src.zip", {"inside/hello.txt": b"hi"}).read_bytes()
    handler.files["/mirror.bin"] = archive
    root = tmp_path / "root"
    assert module.main(["--root", str(root), "--url", f"{base}/mirror.bin"]) == 0
    assert (root / dest).read_bytes() == archive
    if extract_to is not None:
        assert (root / extract_to / "inside" / "hello.txt").read_bytes() == b"hi"
    assert module.main(["--root", str(tmp_path / "other"), "--url", f"{base}/missing"]) == 1
    assert not os.path.exists(tmp_path / "other" / dest)
