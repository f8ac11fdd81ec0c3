"""Archive extraction (`vidbench data download --archive`): size and ratio limits, corrupt
archives as clear errors with nothing half-written, and the user's own symlinked folders under
the video root written through."""

from __future__ import annotations

import os
import zipfile

import pytest

from tests.cli_helpers import run_cli
from vidbench.datatools import extract_archive
from vidbench.errors import UserError


def _zip(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _download(capsys, root, *archives, extra=()):
    args = ["data", "download", "--video-root", str(root)]
    for archive in archives:
        args += ["--archive", str(archive)]
    return run_cli(capsys, *args, *extra)


def test_a_zip_bomb_is_refused_before_writing(capsys, tmp_path):
    bomb = _zip(tmp_path / "bomb.zip", {"fitness/a.mp4": b"\0" * (64 << 20)})
    assert bomb.stat().st_size < 1 << 20
    res = _download(capsys, tmp_path / "root", bomb)
    assert res.code == 2 and "zip bomb" in res.err and "Traceback" not in res.err
    assert not (tmp_path / "root" / "fitness" / "a.mp4").exists()


def test_the_total_size_limit_is_enforced_and_settable(capsys, tmp_path):
    data = os.urandom(2 << 20)  # incompressible, like video
    archive = _zip(tmp_path / "big.zip", {"surgery/a.mp4": data, "surgery/b.mp4": data})
    res = _download(capsys, tmp_path / "root", archive, extra=("--max-extract-gb", "0.003"))
    assert res.code == 2 and "over the limit" in res.err and "--max-extract-gb" in res.err
    assert not (tmp_path / "root" / "surgery").exists()
    res = _download(capsys, tmp_path / "root", archive, extra=("--max-extract-gb", "0.005"))
    assert res.code == 0, res.err
    assert (tmp_path / "root" / "surgery" / "b.mp4").read_bytes() == data


def test_truncated_and_damaged_archives_are_clear_errors(capsys, tmp_path):
    data = os.urandom(300_000)
    good = _zip(tmp_path / "good.zip", {"fitness/a.mp4": data}, zipfile.ZIP_STORED)
    raw = good.read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(raw[: len(raw) // 2])
    res = _download(capsys, tmp_path / "root", truncated)
    assert res.code == 2 and "not a readable zip" in res.err and "download it again" in res.err
    damaged = tmp_path / "damaged.zip"
    middle = len(raw) // 2
    damaged.write_bytes(raw[:middle] + bytes([raw[middle] ^ 0xFF]) + raw[middle + 1 :])
    res = _download(capsys, tmp_path / "root", damaged)
    assert res.code == 2 and "corrupt" in res.err and "Traceback" not in res.err
    folder = tmp_path / "root" / "fitness"
    assert not any(p.is_file() for p in folder.rglob("*")) if folder.exists() else True
    not_zip = tmp_path / "page.zip"
    not_zip.write_text("<html>rate limited</html>")
    res = _download(capsys, tmp_path / "root", not_zip)
    assert res.code == 2 and "not a readable zip" in res.err


@pytest.mark.parametrize("name", ["../escape.mp4", "/abs/escape.mp4", "a/../../escape.mp4"])
def test_members_that_escape_are_refused(tmp_path, name):
    archive = _zip(tmp_path / "evil.zip", {"ok.mp4": b"x", name: b"x"})
    with pytest.raises(UserError, match="escape"):
        extract_archive(archive, tmp_path / "root")
    assert not (tmp_path / "escape.mp4").exists() and not (tmp_path / "root" / "ok.mp4").exists()


def test_the_users_symlinked_folders_are_written_through(capsys, tmp_path):
    big_disk = tmp_path / "big_disk"
    (big_disk / "fitness").mkdir(parents=True)
    root = tmp_path / "root"
    root.mkdir()
    (root / "fitness").symlink_to(big_disk / "fitness", target_is_directory=True)
    linked_root = tmp_path / "linked_root"
    linked_root.symlink_to(root, target_is_directory=True)
    archive = _zip(tmp_path / "v.zip", {"fitness/s1/a.mp4": b"video", "fitness/s1/": b""})
    res = _download(capsys, linked_root, archive)
    assert res.code == 0, res.err
    assert (big_disk / "fitness" / "s1" / "a.mp4").read_bytes() == b"video"
