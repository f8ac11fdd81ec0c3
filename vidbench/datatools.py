"""`vidbench data info | download | doctor`: what the benchmark holds, how to get its videos,
and whether every video is usable."""

from __future__ import annotations

import json
import zipfile
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


def download_videos(
    root: Path,
    repo_id: str = VIDEO_REPO_ID,
    files: tuple[str, ...] = VIDEO_ARCHIVES,
    revision: str | None = None,
) -> list[Path]:
    """Fetch the hosted archives (huggingface_hub shows progress) and unpack them into root."""
    from huggingface_hub import hf_hub_download

    root.mkdir(parents=True, exist_ok=True)
    unpacked = []
    for name in files:
        try:
            archive = hf_hub_download(repo_id, name, repo_type="dataset", revision=revision)
        except Exception as exc:
            kind = type(exc).__name__
            fetch = f"`hf download --repo-type dataset {repo_id} {name}`, then unzip it into {root}"
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
                hint = (
                    f"check the network and HF_HUB_OFFLINE; or download it elsewhere with {fetch}"
                )
            raise UserError(
                f"could not fetch {name} from dataset repo {repo_id} ({kind})", fix=hint
            ) from None
        with zipfile.ZipFile(archive) as zf:
            _safe_extract(zf, root)
        unpacked.append(Path(archive))
    return unpacked


def _safe_extract(zf: zipfile.ZipFile, root: Path) -> None:
    base = root.resolve()
    for member in zf.infolist():
        target = (root / member.filename).resolve()
        if base != target and base not in target.parents:
            raise UserError(
                f"archive member {member.filename!r} would escape {root}",
                fix="the archive is not trustworthy; do not use it",
            )
    zf.extractall(root)


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
