"""Build dataset folders in the Hugging Face Hub layout (parquet written by `datasets`, thumbnails
included) so loader tests read exactly what the real release holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

CARD = """---
configs:
- config_name: default
  data_files:
  - split: test
    path: data/test-*
---
# test fixture
"""


def make_row(
    key: str,
    *,
    action: str = "fitness_0",
    domain: str = "fitness",
    split: str = "easy",
    videos: list[dict[str, Any]] | None = None,
    annotated: dict[str, Any] | None = None,
    gt: dict[str, Any] | None = None,
    retrieval: list[dict[str, Any]] | None = None,
    max_differences: int | None = None,
) -> dict[str, Any]:
    annotated = (
        annotated
        if annotated is not None
        else {
            "0": {
                "name": "depth",
                "description": "deeper squat",
                "query_string": "video A deeper",
                "num_frames": "1",
            },
            "3": {
                "name": "speed",
                "description": "faster descent",
                "query_string": "x",
                "num_frames": "gt_1",
            },
            "7": None,
            "9": {
                "name": "stance",
                "description": "wider stance",
                "query_string": "x",
                "num_frames": "1",
            },
        }
    )
    gt = gt if gt is not None else {"0": "a", "3": "c", "7": None, "9": "b"}
    n_labels = sum(v is not None for v in gt.values())
    return {
        "sample_key": key,
        "videos": json.dumps(
            videos
            or [
                {"path": f"{key}/a.mp4", "fps_original": 30, "frames_trim": [2, 40]},
                {"path": f"{key}/b_frames", "fps_original": 8.0, "frames_trim": [0, None]},
            ]
        ),
        "action": action,
        "action_name": action.replace("_", " "),
        "action_description": "A person does a squat.",
        "source_dataset": "HuMMan",
        "sample_hash": abs(hash(key)) % 10**9,
        "retrieval_frames": json.dumps(retrieval or [{"0": [5, 6], "3": None}, {"0": [2]}]),
        "differences_annotated": json.dumps(annotated),
        "differences_gt": json.dumps(gt),
        "domain": domain,
        "split": split,
        "n_differences_open_prediction": max_differences
        if max_differences is not None
        else int(np.ceil(1.5 * n_labels)),
    }


def write_hub_folder(folder: Path, rows: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> Path:
    from datasets import Dataset, Features, Image, Value
    from PIL import Image as PILImage

    thumb = PILImage.fromarray(np.zeros((8, 8, 3), dtype=np.uint8))
    columns: dict[str, list[Any]] = {k: [r[k] for r in rows] for k in rows[0] if k not in drop}
    columns["vid0_thumbnail"] = [thumb] * len(rows)
    columns["vid1_thumbnail"] = [thumb] * len(rows)
    features = Features(
        {
            k: (
                Image()
                if k.endswith("thumbnail")
                else Value("int64")
                if k in ("sample_hash", "n_differences_open_prediction")
                else Value("string")
            )
            for k in columns
        }
    )
    (folder / "data").mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(columns, features=features).to_parquet(
        str(folder / "data" / "test-00000-of-00001.parquet")
    )
    (folder / "README.md").write_text(CARD)
    return folder
