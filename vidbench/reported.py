"""The paper's published results, as data, to place on the leaderboards as source "reported".

Source: Burgess et al., "Video Action Differencing", ICLR 2025 (arXiv 2503.07860), tables of
closed-set accuracy and open-set recall@N, in percent. The paper's own significance flags are not
copied: several are wrong when recomputed, so leaderboard.py recomputes them from these
accuracies and the published scored-item counts below.
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER_LINK = "https://arxiv.org/abs/2503.07860"

# Scored (a/b) ground-truth items per split in the public release; the counts the paper's
# accuracies are over, used to turn a published percentage back into a binomial test.
SCORED_ITEMS: dict[str, int] = {"easy": 357, "medium": 1227, "hard": 871}


@dataclass(frozen=True)
class ReportedRow:
    """One published row: percentages per split and the paper's Average (mean of the splits)."""

    mode: str  # "closed" | "open"
    model_name: str
    model_link: str
    easy: float
    medium: float
    hard: float
    average: float
    source: str = "reported"
    reference: str = PAPER_LINK

    def split_percent(self) -> dict[str, float]:
        return {"easy": self.easy, "medium": self.medium, "hard": self.hard}

    def counts(self) -> dict[str, tuple[int, int]]:
        """(n_correct, n) per split, reconstructed from the rounded percentage."""
        return {
            s: (round(p / 100 * SCORED_ITEMS[s]), SCORED_ITEMS[s])
            for s, p in self.split_percent().items()
        }


LINKS: dict[str, str] = {
    "GPT-4o": "https://openai.com/index/hello-gpt-4o/",
    "Gemini-1.5-Pro": "https://deepmind.google/technologies/gemini/pro/",
    "Claude-3.5-Sonnet": "https://www.anthropic.com/news/claude-3-5-sonnet",
    "LLaVA-Video-7B": "https://huggingface.co/lmms-lab/LLaVA-Video-7B-Qwen2",
    "Qwen2-VL-7B": "https://huggingface.co/Qwen/Qwen2-VL-7B-Instruct",
    "VidDiff": PAPER_LINK,
}

_CLOSED = [
    ("GPT-4o", 58.3, 53.2, 48.9, 53.5),
    ("Gemini-1.5-Pro", 67.8, 53.6, 51.7, 57.7),
    ("Claude-3.5-Sonnet", 57.1, 50.5, 52.5, 53.4),
    ("LLaVA-Video-7B", 56.6, 52.0, 48.3, 52.3),
    ("Qwen2-VL-7B", 49.0, 52.6, 49.6, 50.4),
    ("VidDiff", 62.7, 56.2, 50.0, 56.3),
]
_OPEN = [
    ("GPT-4o", 45.7, 41.5, 38.0, 41.7),
    ("Gemini-1.5-Pro", 30.3, 30.5, 24.1, 28.3),
    ("Claude-3.5-Sonnet", 37.8, 34.6, 34.3, 35.6),
    ("LLaVA-Video-7B", 7.8, 9.0, 8.5, 8.4),
    ("Qwen2-VL-7B", 11.2, 8.8, 1.6, 7.2),
    ("VidDiff", 49.9, 37.9, 38.5, 42.1),
]

REPORTED_CLOSED: list[ReportedRow] = [
    ReportedRow("closed", name, LINKS[name], e, m, h, a) for name, e, m, h, a in _CLOSED
]
REPORTED_OPEN: list[ReportedRow] = [
    ReportedRow("open", name, LINKS[name], e, m, h, a) for name, e, m, h, a in _OPEN
]


def reported_rows(mode: str) -> list[ReportedRow]:
    """The published rows of one mode, in the paper's order."""
    return list(REPORTED_CLOSED if mode == "closed" else REPORTED_OPEN)


def model_link(name: str) -> str:
    """The page of the paper's model that `name` (a model id such as "gpt-4o-2024-08-06" or
    "gemini/gemini-1.5-pro-002", or a method name) runs; "" when it is none of them."""
    normal = name.lower().replace(".", "-")
    for model, link in LINKS.items():
        if name and model.lower().replace(".", "-") in normal:
            return link
    return ""
