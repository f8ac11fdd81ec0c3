"""`vidbench data info | download | doctor`: what the benchmark holds, how to get its videos,
and whether every video is usable."""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from vidbench.contracts import SPLITS, Sample
from vidbench.errors import UserError

VIDEO_REPO_ID = "viddiff/VidDiffBench"
VIDEO_ARCHIVES = ("data/videos_fitness.zip", "data/videos_surgery.zip")


def info_tables(samples: list[Sample]) -> dict[str, Any]:
    """Counts per split / domain / action, label balance, and scored (a/b) items."""

    def empty() -> Counter[str]:
        return Counter()

    groups: dict[str, dict[str, Counter[str]]] = {
        "split": defaultdict(empty),
        "domain": defaultdict(empty),
        "action": defaultdict(empty),
    }
    for s in samples:
        for dim, value in (("split", s.split), ("domain", s.domain), ("action", s.action)):
            c = groups[dim][value]
            c["pairs"] += 1
            for d in s.differences.values():
                c[f"label_{d.label or 'null'}"] += 1
            c["scored"] += len(s.scored_labels())
            c["max_differences"] += s.info.max_differences
    order = {"split": list(SPLITS)}
    out: dict[str, Any] = {}
    for dim, table in groups.items():
        keys = [k for k in order.get(dim, []) if k in table] + sorted(
            k for k in table if k not in order.get(dim, [])
        )
        out[dim] = [
            {
                dim: k,
                **{
                    c: table[k][c]
                    for c in ("pairs", "scored", "label_a", "label_b", "label_c", "label_null")
                },
            }
            for k in keys
        ]
    total: Counter[str] = Counter()
    for row in out["split"]:
        total.update({k: v for k, v in row.items() if k != "split"})
    out["total"] = dict(total)
    return out


# Extraction limits. The hosted archives hold videos and JPEG frames, which barely compress
# (measured ratio ~1.0-1.1); a zip bomb reaches 1,000x. Both limits apply to what the headers
# declare and again to the bytes actually written, since headers can lie.
MAX_EXTRACT_BYTES = 64 * 1024**3
MAX_RATIO = 50.0
_RATIO_FLOOR = 1 << 20  # small members (text, tiny images) may compress well: judged in total only
_CHUNK = 1 << 20


def download_videos(
    root: Path,
    repo_id: str = VIDEO_REPO_ID,
    files: tuple[str, ...] = VIDEO_ARCHIVES,
    revision: str | None = None,
    max_bytes: int = MAX_EXTRACT_BYTES,
) -> list[Path]:
    """Fetch the hosted archives (huggingface_hub shows progress) and unpack them into root."""
    from huggingface_hub import hf_hub_download

    unpacked = []
    for name in files:
        try:
            archive = hf_hub_download(repo_id, name, repo_type="dataset", revision=revision)
        except Exception as exc:
            kind = type(exc).__name__
            fetch = (
                f"`hf download --repo-type dataset {repo_id} {name}`, then "
                f"`vidbench data download --archive FILE` (unpacks into {root})"
            )
            if "LocalEntryNotFound" in kind or "OfflineMode" in kind:
                # Offline (or the Hub unreachable) and not in the local cache: not a wrong name.
                hint = (
                    "it is not in the local Hugging Face cache and the Hub cannot be reached "
                    "(HF_HUB_OFFLINE set, or no network): go online and run again, or on a "
                    f"machine with network run {fetch}"
                )
            elif "EntryNotFound" in kind or "404" in str(exc):
                hint = "the file is not in that repo: pass --repo/--file with the right names"
            else:
                hint = f"check the network and HF_HUB_OFFLINE; or download it elsewhere: {fetch}"
            raise UserError(
                f"could not fetch {name} from dataset repo {repo_id} ({kind})", fix=hint
            ) from None
        extract_archive(Path(archive), root, max_bytes=max_bytes)
        unpacked.append(Path(archive))
    return unpacked


def _member_problem(name: str) -> str | None:
    """Archive member names are untrusted: relative, no '..', no NUL, no drive letters. Judged on
    the text, so the user's own symlinked folders under the root are written through."""
    parts = name.replace("\\", "/").split("/")
    if not name or "\x00" in name or name.startswith(("/", "\\")) or ":" in parts[0]:
        return "is absolute or malformed"
    if ".." in parts:
        return "climbs out with '..'"
    return None


def extract_archive(
    archive: Path, root: Path, *, max_bytes: int = MAX_EXTRACT_BYTES, max_ratio: float = MAX_RATIO
) -> int:
    """Unpack a zip archive into root after checking every member's name, the total size and
    the compression ratio; returns the bytes written. A corrupt or hostile archive is a
    UserError; a file being written when extraction stops is removed, never left half-written."""
    fix_corrupt = f"delete {archive} and download it again"
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UserError(
            f"{archive} is not a readable zip archive ({exc})", fix=fix_corrupt
        ) from None
    with zf:
        members = zf.infolist()
        for member in members:
            problem = _member_problem(member.filename)
            if problem:
                raise UserError(
                    f"archive member {member.filename!r} {problem}: it would escape {root}",
                    where=str(archive),
                    fix="the archive is not trustworthy; do not use it",
                )
        declared = sum(m.file_size for m in members)
        packed = sum(m.compress_size for m in members)
        _check_size(archive, declared, packed, max_bytes, max_ratio)
        for member in members:
            if member.file_size > _RATIO_FLOOR and member.file_size > max_ratio * max(
                member.compress_size, 1
            ):
                raise UserError(
                    f"archive member {member.filename!r} expands {member.file_size:,} bytes from "
                    f"{member.compress_size:,} (over {max_ratio:g}x): a zip bomb, not videos",
                    where=str(archive),
                    fix="the archive is not trustworthy; do not use it",
                )
        root.mkdir(parents=True, exist_ok=True)
        written = 0
        for member in members:
            written += _extract_member(zf, member, root, archive, max_bytes - written)
    return written


def _check_size(archive: Path, declared: int, packed: int, max_bytes: int, ratio: float) -> None:
    if declared > max_bytes:
        raise UserError(
            f"{archive} would unpack to {declared:,} bytes, over the limit of {max_bytes:,}",
            fix="pass --max-extract-gb with a larger limit if you trust this archive",
        )
    if declared > _RATIO_FLOOR and declared > ratio * max(packed, 1):
        raise UserError(
            f"{archive} expands {declared:,} bytes from {packed:,} (over {ratio:g}x): "
            "a zip bomb, not videos",
            fix="the archive is not trustworthy; do not use it",
        )


def _extract_member(
    zf: zipfile.ZipFile, member: zipfile.ZipInfo, root: Path, archive: Path, budget: int
) -> int:
    target = root.joinpath(*[p for p in member.filename.replace("\\", "/").split("/") if p])
    if member.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    limit = min(member.file_size, budget)
    written = 0
    try:
        with zf.open(member) as src, open(tmp, "wb") as dst:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise UserError(
                        f"archive member {member.filename!r} unpacks to more bytes than its "
                        f"header declares ({member.file_size:,}) or than the limit allows",
                        where=str(archive),
                        fix="the archive is not trustworthy; do not use it",
                    )
                dst.write(chunk)
        os.replace(tmp, target)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise UserError(
            f"archive member {member.filename!r} is corrupt ({exc})",
            where=str(archive),
            fix=f"delete {archive} and download it again",
        ) from None
    except OSError as exc:
        raise UserError(
            f"cannot write {target} ({exc.strerror or exc})",
            where=str(archive),
            fix="free disk space, or pass another --video-root",
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return written


def gated_sources_note(root: Path) -> str:
    take_uids = json.loads(
        resources.files("vidbench").joinpath("data/egoexo4d_take_uids.json").read_text()
    )
    n = len(take_uids) if isinstance(take_uids, list) else len(dict(take_uids))
    return (
        "Not fetched (licence-gated sources):\n"
        f"  * Ego-Exo4D (ballsports, music): {n} takes. Sign the licence at "
        "https://ego4d-data.org, "
        "install the `ego4d` package, then\n"
        '      egoexo -o EGOEXO_DIR --parts takes --uids $(python -c "import json,importlib.'
        "resources as r;print(' '.join(json.loads(r.files('vidbench').joinpath('data/"
        "egoexo4d_take_uids.json').read_text())))\")\n"
        f"    and place (or link) the takes under {root} as the dataset's video paths expect.\n"
        "  * FineDiving (diving): request access from the FineDiving authors, then unpack under "
        f"{root}.\n"
        "  Run `vidbench data doctor` afterwards to see what is still missing."
    )


@dataclass
class DoctorRow:
    sample_key: str
    video: str
    path: str
    found: bool
    decodes: bool
    frames: int | None
    trimmed: int | None
    fps: float | None
    fps_original: float
    problem: str  # broken: the video cannot be used
    note: str = ""  # worth a look, not broken (fps differs from the dataset's fps_original)

    @property
    def ok(self) -> bool:
        return not self.problem


def doctor(samples: list[Sample], root: Path | None) -> list[DoctorRow]:
    """Check every video: found, decodes, frame count vs trim, container fps vs fps_original."""
    from vidbench import feedback
    from vidbench.video import probe

    rows = []
    for s in feedback.bar(samples, len(samples), "checking videos", "pair"):
        for label, ref in zip("AB", s.info.videos):
            p = probe(ref, root)
            problem = p.error or ""
            trimmed = p.n_frames_trimmed
            if not problem and not trimmed:
                problem = f"trim {list(ref.trim)} leaves no frames of {p.n_frames_total}"
            note = ""
            # Timestamps use fps_original; a container rate that disagrees is worth knowing but
            # does not make the video unusable.
            if p.fps and ref.fps_original and abs(p.fps - ref.fps_original) > 0.5:
                note = f"container fps {p.fps:.2f} != fps_original {ref.fps_original}"
            rows.append(
                DoctorRow(
                    s.key,
                    label,
                    str(p.path),
                    p.exists,
                    p.decodes,
                    p.n_frames_total,
                    trimmed,
                    p.fps,
                    ref.fps_original,
                    problem,
                    note,
                )
            )
    return rows
