"""`greenstack data cmapss|ai4i` against a local HTTP server (no internet needed)."""

from __future__ import annotations

import gzip
import io
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from apps.maintenance.data import load_cmapss
from apps.maintenance.fetch import fetch_dataset
from core.errors import DataError

DATA = Path(__file__).resolve().parents[3] / "data"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture()
def server(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _nasa_like_bundle(root: Path) -> None:
    """NASA's layout: an outer zip holding CMAPSSData.zip holding the text files."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for subset in ("FD001", "FD002", "FD003", "FD004"):
            src = "FD001" if subset in ("FD002", "FD004") else subset  # stand-ins for the test
            for kind in ("train", "test", "RUL"):
                raw = gzip.decompress((DATA / "cmapss" / f"{kind}_{src}.txt.gz").read_bytes())
                z.writestr(f"CMAPSSData/{kind}_{subset}.txt", raw)
        z.writestr("../evil_FD001.txt", b"never extracted")
    with zipfile.ZipFile(root / "bundle.zip", "w") as outer:
        outer.writestr("6. Turbofan/CMAPSSData.zip", inner.getvalue())
        outer.writestr("6. Turbofan/readme.txt", b"readme")


def test_fetch_cmapss_from_nested_zip(server, tmp_path: Path) -> None:
    root, base = server
    _nasa_like_bundle(root)
    dest = tmp_path / "cmapss"
    files = fetch_dataset("cmapss", dest, url=f"{base}/bundle.zip")
    assert len(files) == 12 and all(f.parent == dest for f in files)
    assert not (tmp_path / "evil_FD001.txt").exists()
    data = load_cmapss(dest, "FD003")
    assert data.train["unit"].nunique() == 100


def test_fetch_ai4i_and_errors(server, tmp_path: Path) -> None:
    root, base = server
    raw = gzip.decompress((DATA / "ai4i" / "ai4i2020.csv.gz").read_bytes())
    with zipfile.ZipFile(root / "ai4i.zip", "w") as z:
        z.writestr("ai4i2020.csv", raw)
    (root / "notzip.zip").write_bytes(b"hello")
    files = fetch_dataset("ai4i", tmp_path / "ai4i", url=f"{base}/ai4i.zip")
    assert files[0].read_bytes() == raw
    with pytest.raises(DataError, match="did not return a zip"):
        fetch_dataset("ai4i", tmp_path / "x", url=f"{base}/notzip.zip")
    with pytest.raises(DataError, match="cannot download"):
        fetch_dataset("ai4i", tmp_path / "x", url=f"{base}/missing.zip")
    with pytest.raises(DataError, match="lacks"):
        fetch_dataset("cmapss", tmp_path / "y", url=f"{base}/ai4i.zip")
    with pytest.raises(DataError, match="unknown dataset"):
        fetch_dataset("fd001", tmp_path)


def test_cli_data_command(server, tmp_path: Path) -> None:
    from apps.cli import main

    root, base = server
    raw = gzip.decompress((DATA / "ai4i" / "ai4i2020.csv.gz").read_bytes())
    with zipfile.ZipFile(root / "ai4i.zip", "w") as z:
        z.writestr("ai4i2020.csv", raw)
    assert main(["data", "ai4i", "--url", f"{base}/ai4i.zip", "--dest", str(tmp_path)]) == 0
    assert (tmp_path / "ai4i2020.csv").read_bytes() == raw
