"""Building the messages a method sends: text, image and JSON-schema parts, decoding JSON replies,
and the providers' per-request image limits. Pure helpers with no client behind them, so methods
and the dry-run planner use them without importing the LLM client (vidbench.llm)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import numpy as np

# Images one request may carry, by litellm provider (the providers' documented limits).
PROVIDER_MAX_IMAGES: dict[str, int] = {
    "anthropic": 100,
    "openai": 500,
    "azure": 500,
    "gemini": 3000,
    "vertex_ai": 3000,
}


def provider_of(model: str) -> str:
    """litellm's provider for a model id ("anthropic/claude-..." -> "anthropic")."""
    if "/" in model:
        return model.split("/", 1)[0]
    if model.startswith("claude"):
        return "anthropic"
    if model.startswith("gemini"):
        return "gemini"
    return "openai"


def text_part(text: str) -> dict[str, Any]:
    """An OpenAI text content part."""
    return {"type": "text", "text": text}


def image_part(array: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> dict[str, Any]:
    """An OpenAI image_url content part holding `array` (H, W, 3 RGB uint8) as a base64 data URL."""
    from vidbench.video import encode_image

    fmt = fmt.lower()
    if fmt not in ("jpeg", "jpg", "png"):
        raise ValueError(f"image format must be jpeg or png, got {fmt!r}")
    return encoded_image_part(encode_image(array, fmt, quality), fmt)


def encoded_image_part(data: bytes, fmt: str = "jpeg") -> dict[str, Any]:
    """An OpenAI image_url content part for an already encoded JPEG or PNG file
    (VideoFrames.encoded: the harness encodes, and caches, the frames a method sends)."""
    mime = "image/png" if fmt.lower() == "png" else "image/jpeg"
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return {"type": "image_url", "image_url": {"url": url}}


def json_schema_format(schema: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The OpenAI `response_format` asking for `schema` in strict mode."""
    raw_name = name or str(schema.get("title") or "response")
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", raw_name)[:64] or "response"
    return {"type": "json_schema", "json_schema": {"name": safe, "schema": schema, "strict": True}}


def decode_json(text: str | None) -> Any:
    """Decode a JSON reply, tolerating a ```json fenced block around it."""
    if text is None:
        raise ValueError("the reply was empty")
    stripped = text.strip()
    fenced = re.search(r"```(?:json|JSON)?\s*\n?(.*?)```", stripped, re.DOTALL)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the reply is not valid JSON ({exc.msg} at char {exc.pos})") from None


def reask_message(error: str) -> str:
    """The user turn that asks the model to fix its previous reply."""
    return (
        f"Your previous reply could not be used: {error}. Reply again with only a JSON "
        "object that follows the requested schema exactly: every required key, only the "
        "allowed values, no other text."
    )
