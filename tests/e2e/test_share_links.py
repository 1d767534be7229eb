"""Share links end to end: a real daemon and server; `ferry share`, `ferry shares` and `ferry unshare` as a user
runs them, and the link fetched with plain HTTP by someone without an account."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable

import requests
from devices import Device


def test_share_list_fetch_and_unshare_through_the_cli(make_device: Callable[..., Device]) -> None:
    a = make_device("laptop")
    (a.folder / "report.txt").write_text("quarterly numbers")
    (a.folder / "album" / "2026").mkdir(parents=True)
    (a.folder / "album" / "2026" / "beach.jpg").write_bytes(b"\xff\xd8" + bytes(range(256)) * 900)
    (a.folder / "album" / "cover.txt").write_text("cover")
    a.wait_synced()

    made = a.ferry("share", str(a.folder / "report.txt"), "--expires", "7d")
    url = made.stdout.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{43}", url), made.stdout
    assert "/Shared/report.txt" in made.stderr  # the server path: the folder's remote prefix + its path
    assert requests.get(url + "/download", timeout=30).content == b"quarterly numbers"

    locked = a.ferry("share", str(a.folder / "album"), "--password-stdin", "--json", input="hunter2\n")
    album = a.json("shares")["shares"]
    assert {s["path"] for s in album} == {"Shared/report.txt", "Shared/album"}
    folder_url = re.search(r'"url": "([^"]+)"', locked.stdout)
    assert folder_url is not None
    visitor = requests.Session()
    form = visitor.get(folder_url.group(1), timeout=30)
    assert 'type="password"' in form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    opened = visitor.post(folder_url.group(1), data={"password": "hunter2", "csrf": csrf.group(1)}, timeout=30)
    assert opened.status_code == 200
    assert "beach.jpg" in opened.text
    archive = zipfile.ZipFile(io.BytesIO(visitor.get(folder_url.group(1) + "/download", timeout=30).content))
    assert archive.read("album/2026/beach.jpg") == (a.folder / "album" / "2026" / "beach.jpg").read_bytes()
    assert archive.read("album/cover.txt") == b"cover"

    listing = a.ferry("shares").stdout
    assert "Shared/report.txt" in listing
    assert "/Shared/album/" in listing
    report = next(s for s in a.json("shares")["shares"] if s["path"] == "Shared/report.txt")
    assert report["downloads"] == 1
    assert report["expires_at"] is not None

    done = a.ferry("unshare", report["id"])
    assert report["id"] in done.stdout
    assert requests.get(url, timeout=30).status_code == 410
    assert [s["path"] for s in a.json("shares")["shares"]] == ["Shared/album"]

    # Mistakes get a clear error and change nothing.
    again = a.ferry("unshare", report["id"], check=False)
    assert again.returncode == 1
    assert "no share link" in again.stderr
    missing = a.ferry("share", str(a.folder / "not-there.txt"), check=False)
    assert missing.returncode == 1
    assert "not on the server" in missing.stderr
    bad = a.ferry("share", str(a.folder / "report.txt"), "--expires", "soon", check=False)
    assert bad.returncode == 2
    assert "--expires" in bad.stderr
    outside = a.ferry("share", "/../etc/passwd", check=False)
    assert outside.returncode == 1
    assert len(a.json("shares")["shares"]) == 1

    # A path in the cloud works too (here the same file as the folder's, by its server path).
    by_server_path = a.ferry("share", "/Shared/album/cover.txt").stdout.strip()
    assert requests.get(by_server_path + "/download", timeout=30).content == b"cover"
