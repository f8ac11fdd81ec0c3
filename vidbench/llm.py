"""The one place vidbench calls an LLM: litellm behind a cache, one retry loop, a shared
concurrency limit, prices and a budget. Message building lives in vidbench.messages and
credential handling in vidbench.secrets, so methods and run folders need neither this client.

    client = LLMClient(get_cache(), max_concurrency=8, budget_usd=20)
    llm = client.session()                       # one per sample: its own `usage` and `calls`
    reply = llm.complete("gpt-4o-2024-08-06", [{"role": "user", "content": "hi"}])
    value = llm.complete_json(model, messages, schema, parse=MyModel.model_validate)

Decisions, so that a reader does not have to reverse-engineer them:
- litellm is imported lazily (it takes seconds) and called with `max_retries=0, num_retries=0`:
  the retry loop here is the only one, so backoffs never stack.
- Cache key = everything that can change an answer: provider, model, the endpoint (normalised,
  credentials stripped: the same model name served by two servers is two sets of answers), every
  request parameter, the messages, and each image by a digest of its bytes. Only what says how
  to reach a server without changing what it answers is left out: api key, timeout, retries.
- `cache_mode`: "use" (read and write), "refresh" (never read, overwrite with the new answer),
  "off" (neither). Only valid answers are cached: complete() skips truncated/empty replies,
  complete_json() stores the text only after `parse` accepted it, under the key of the request as
  first asked, so a rerun gets the validated answer in one lookup even when a re-ask produced it.
- A cache hit is a call with `cached_calls=1`, the stored token counts, and `cost_usd=0.0`: the
  run spent nothing on it. The cost originally paid is kept in the cache record, returned as
  `CompletionReply.original_cost_usd` and summed in `LLMClient.saved_usd`.
- Every call a session makes, from the network or the cache, is listed in `Session.calls`
  (model, cache key, raw reply text): the raw evidence a run keeps in each record.
- A price litellm does not know (and no `prices` entry) gives cost None, never 0; None propagates
  through `Usage.add`, so totals say "unknown" rather than under-reporting.
- The budget is checked before each uncached call; with N calls in flight a run can overshoot
  by at most those N calls. Calls of unknown price cannot count towards it (logged once). Cached
  answers are still served after the budget is spent.
- API keys never reach the cache (not part of the key, not stored) and every error message raised
  here goes through vidbench.secrets, since provider errors can echo request headers.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import random
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from vidbench.cache import Cache, content_key
from vidbench.contracts import LLMReply, Usage
from vidbench.errors import ApiError, BudgetExceeded, ParseError
from vidbench.messages import decode_json, json_schema_format, provider_of, reask_message
from vidbench.secrets import (
    is_credential_name,
    normalise_endpoint,
    redact_text,
    register_secret,
    register_url,
)

log = logging.getLogger("vidbench.llm")
T = TypeVar("T")

CACHE_NS = "llm"
CACHE_VERSION = "llm-v2"  # bump when the key layout or the stored record changes
CACHE_MODES = ("use", "refresh", "off")

# Parameters that only say how to reach a model, not what it answers: kept out of the cache key
# (the endpoint enters it normalised, see `endpoint_of`).
TRANSPORT_PARAMS = frozenset(
    {
        "api_key",
        "api_base",
        "base_url",
        "timeout",
        "max_retries",
        "num_retries",
        "drop_params",
        "metadata",
        "client",
    }
)
# HTTP statuses worth another attempt: timeouts, conflicts/too-early, rate limits, server errors.
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
# litellm reports a missing key as a 500; retrying it would only burn time.
_MISSING_CREDENTIALS = re.compile(
    r"missing credentials|api[_ ]key (?:must be set|is required)|"
    r"no api key",
    re.IGNORECASE,
)
_DATA_URL = re.compile(r"^data:[^;,]+;base64,", re.IGNORECASE)


# -- planning and credentials ----------------------------------------------------------------


def estimate_cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    prices: dict[str, tuple[float, float]] | None = None,
) -> float | None:
    """USD for a planned call (--dry-run): registered prices, litellm's map, else None."""
    price = (prices or {}).get(model) or (prices or {}).get(model.split("/", 1)[-1])
    if price is not None:
        return (price[0] * prompt_tokens + price[1] * completion_tokens) / 1e6
    try:
        inp, out = _import_litellm().cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
        return float(inp) + float(out)
    except Exception:  # litellm raises for models missing from its price map
        return None


def missing_credentials(model: str, api_base: str | None = None) -> list[str]:
    """Environment variables `model` needs and lacks (empty when a server URL is given: a local
    OpenAI-compatible server needs no key). Checked before a run, so a missing key is one clear
    error instead of a run full of api_error records."""
    if api_base or (
        model.startswith(("openai/", "hosted_vllm/"))
        and (os.environ.get("OPENAI_API_BASE") or os.environ.get("OPENAI_BASE_URL"))
    ):
        return []
    try:
        found = _import_litellm().validate_environment(model=model)
    except Exception:  # an unknown provider: let the call itself say what is wrong
        return []
    return [] if found.get("keys_in_environment") else list(found.get("missing_keys") or [])


# -- cache keys ----------------------------------------------------------------------------------


def _hash_data_urls(value: Any) -> Any:
    """A copy of `value` with every base64 data URL replaced by a digest of it (small keys, and a
    changed image changes the key)."""
    if isinstance(value, str):
        if _DATA_URL.match(value):
            digest = hashlib.blake2b(value.encode("ascii", "replace"), digest_size=20).hexdigest()
            return f"data-url:blake2b:{digest}"
        return value
    if isinstance(value, dict):
        return {k: _hash_data_urls(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_hash_data_urls(v) for v in value]
    return value


def endpoint_of(model: str, params: dict[str, Any]) -> str | None:
    """The server that answers: `api_base`/`base_url`, else the provider's endpoint variable
    (OPENAI_API_BASE, ...), else None (the provider's public API); normalised, no credentials."""
    url = params.get("api_base") or params.get("base_url")
    if not url:
        provider = provider_of(model)
        names = [f"{provider.upper()}_API_BASE"]
        if provider in ("openai", "hosted_vllm"):
            names += ["OPENAI_API_BASE", "OPENAI_BASE_URL"]
        url = next((os.environ[n] for n in names if os.environ.get(n)), None)
    return normalise_endpoint(str(url)) if url else None


def request_key(
    kind: str, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
) -> str:
    """The cache key of one request (see the module docstring for what is in it and why)."""
    answer_params = {k: v for k, v in params.items() if k not in TRANSPORT_PARAMS}
    for name in ("extra_headers", "headers"):
        if isinstance(answer_params.get(name), dict):  # headers can change an answer; keys cannot
            answer_params[name] = {
                h: v for h, v in answer_params[name].items() if not is_credential_name(str(h))
            }
    return content_key(
        CACHE_VERSION,
        kind,
        provider_of(model),
        model,
        endpoint_of(model, params),
        _hash_data_urls(messages),
        answer_params,
    )


# -- retries -------------------------------------------------------------------------------------


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _retry_after_s(exc: BaseException) -> float | None:
    """Seconds a 429/503 asked us to wait (Retry-After in seconds or as an HTTP date)."""
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_retryable(exc: BaseException) -> bool:
    """Rate limits, timeouts, connection errors and 5xx: yes. Bad requests, auth, not found: no."""
    if _MISSING_CREDENTIALS.search(str(exc)):
        return False
    status = _status_of(exc)
    if status is not None:
        return status in RETRYABLE_STATUS or status >= 500
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names
        & {
            "Timeout",
            "APITimeoutError",
            "APIConnectionError",
            "TimeoutError",
            "ConnectionError",
            "ServiceUnavailableError",
            "InternalServerError",
        }
    )


# -- the client ----------------------------------------------------------------------------------


@dataclass
class CompletionReply(LLMReply):
    """LLMReply plus what a caller may want to log: why generation stopped and, for a cache hit,
    the cost originally paid for this answer."""

    finish_reason: str | None = None
    original_cost_usd: float | None = None


@dataclass
class _Raw:
    """One uncached completion as the network returned it."""

    text: str | None
    finish_reason: str | None
    usage: Usage


_litellm: Any = None
_litellm_lock = threading.Lock()


def _import_litellm() -> Any:
    """Import litellm once, offline-safe and quiet."""
    global _litellm
    with _litellm_lock:
        if _litellm is None:
            # Without this litellm fetches a price map from the internet at import time.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            # litellm's own TypedDicts trip a pydantic warning users can do nothing about.
            warnings.filterwarnings("ignore", message=".*ReadOnly.*", category=UserWarning)
            import litellm

            litellm.suppress_debug_info = True
            _litellm = litellm
        return _litellm


_import_started = threading.Event()
_import_ended = threading.Event()  # the background import is over, imported or failed


def client_importing() -> bool:
    """Whether the background import of litellm has started and not ended yet."""
    return _import_started.is_set() and not _import_ended.is_set() and _litellm is None


def import_litellm_in_background() -> bool:
    """Start importing litellm (seconds) on a daemon thread, so that it overlaps with loading
    the dataset and preparing frames; the first call then waits only for what is left (an
    import error surfaces there, at the first call, as it would without this). True when this
    call started it."""
    if _litellm is not None or _import_started.is_set():
        return False
    _import_started.set()

    def run() -> None:
        try:
            _import_litellm()
        except Exception:  # noqa: S110 - the first real call imports again and reports it
            pass
        finally:
            _import_ended.set()

    threading.Thread(target=run, name="import-litellm", daemon=True).start()
    return True


class LLMClient:
    """Shared by all samples of a run: one cache, one concurrency limit, one budget, run totals.

    `prices` maps a model name (as passed, or without its provider prefix) to USD per million
    (input, output) tokens; it takes precedence over litellm's price map. `backoff_base_s` scales
    the exponential backoff (default: $VIDBENCH_LLM_BACKOFF_S or 1 s); waits are capped at
    `max_backoff_s` even when a server asks for more with Retry-After.
    """

    def __init__(
        self,
        cache: Cache | None = None,
        *,
        max_concurrency: int = 8,
        timeout_s: float = 120,
        max_attempts: int = 6,
        cache_mode: str = "use",
        budget_usd: float | None = None,
        prices: dict[str, tuple[float, float]] | None = None,
        backoff_base_s: float | None = None,
        max_backoff_s: float = 60.0,
    ):
        if max_concurrency < 1 or max_attempts < 1:
            raise ValueError("max_concurrency and max_attempts must be >= 1")
        if cache_mode not in CACHE_MODES:
            raise ValueError(f"cache_mode must be one of {', '.join(CACHE_MODES)}")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.cache = cache if cache_mode != "off" else None
        self.cache_mode = cache_mode
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.budget_usd = budget_usd
        self.prices = dict(prices or {})
        if backoff_base_s is None:
            backoff_base_s = float(os.environ.get("VIDBENCH_LLM_BACKOFF_S", "1.0"))
        self.backoff_base_s = backoff_base_s
        self.max_backoff_s = max_backoff_s
        self.usage = Usage()
        self.spent_usd = 0.0  # known costs of uncached calls of this run
        self.saved_usd = 0.0  # original costs of answers served from the cache
        self.unpriced_calls = 0  # uncached calls whose price is unknown (not in spent_usd)
        self._semaphore = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def single_flight(self, key: str) -> threading.Lock:
        """The lock held from cache lookup to cache store for one request key: identical requests
        in flight at once (two samples asking the judge the same question) make one paid call, and
        the others are served from the cache, so a run's cached count does not depend on timing."""
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def session(self) -> Session:
        """A per-sample view (contracts.LLMSession) with its own usage."""
        return Session(self)

    # -- accounting --------------------------------------------------------------------------
    def _account(self, session: Session, usage: Usage, *, saved: float | None = None) -> None:
        with self._lock:
            self.usage.add(usage)
            if not usage.cached_calls and usage.cost_usd is not None:
                self.spent_usd += usage.cost_usd
            elif not usage.cached_calls:
                self.unpriced_calls += 1
                if self.unpriced_calls == 1 and self.budget_usd is not None:
                    log.warning(
                        "a call has no known price: it does not count towards the "
                        "budget (pass prices= to price it)"
                    )
            if saved:
                self.saved_usd += saved
        with session._lock:
            session.usage.add(usage)

    def _check_budget(self) -> None:
        if self.budget_usd is not None and self.spent_usd >= self.budget_usd:
            raise BudgetExceeded(
                f"LLM budget of ${self.budget_usd:.2f} reached (spent ${self.spent_usd:.4f}); "
                "cached answers are still served. Raise the budget and rerun: answers already "
                "paid for come from the cache."
            )

    def cost_of(
        self, model: str, response: Any, prompt_tokens: int, completion_tokens: int
    ) -> float | None:
        """USD for one response: `prices` first, then litellm's price map, else None (unknown)."""
        price = self.prices.get(model) or self.prices.get(model.split("/", 1)[-1])
        if price is not None:
            return (price[0] * prompt_tokens + price[1] * completion_tokens) / 1e6
        # litellm already priced the response while logging it (None when the model is not in
        # its map); asking again with completion_cost would cost ~2 ms per call.
        hidden = getattr(response, "_hidden_params", None) or {}
        if "response_cost" in hidden:
            cost = hidden["response_cost"]
            return float(cost) if cost is not None else None
        try:
            return float(
                _import_litellm().completion_cost(completion_response=response, model=model)
            )
        except Exception:  # litellm raises for models missing from its price map
            return None

    # -- the network -------------------------------------------------------------------------
    def _backoff_s(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (AWS style), raised to the server's Retry-After when it gave one."""
        ceiling = min(self.max_backoff_s, self.backoff_base_s * 2 ** (attempt - 1))
        jitter = random.uniform(0, ceiling)
        if retry_after is not None:
            return min(self.max_backoff_s, max(retry_after, jitter))
        return jitter

    def call(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> _Raw:
        """One uncached completion, retried on transient failures.

        Raises ApiError (rejected, or still failing after max_attempts) or BudgetExceeded."""
        self._check_budget()
        litellm = _import_litellm()
        register_secret(params.get("api_key"))
        register_url(params.get("api_base") or params.get("base_url"))
        kwargs = {"drop_params": True, **params, "max_retries": 0, "num_retries": 0}
        kwargs.setdefault("timeout", self.timeout_s)
        # Self-hosted OpenAI-compatible servers (vLLM & co.) started without --api-key accept
        # any key, but the OpenAI client refuses to send a request with none.
        if (
            model.startswith(("openai/", "hosted_vllm/"))
            and kwargs.get("api_base")
            and not kwargs.get("api_key")
            and not os.environ.get("OPENAI_API_KEY")
        ):
            kwargs["api_key"] = "EMPTY"
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self._semaphore:
                    response = litellm.completion(model=model, messages=messages, **kwargs)
            except Exception as exc:  # litellm maps every provider failure to an exception
                status = _status_of(exc)
                what = redact_text(f"{type(exc).__name__}: {exc}")
                if not is_retryable(exc):
                    raise ApiError(
                        f"{model}: request rejected (HTTP {status}), not retried: {what}"
                    ) from None
                if attempt == self.max_attempts:
                    raise ApiError(
                        f"{model}: gave up after {attempt} attempts; last error "
                        f"(HTTP {status}): {what}"
                    ) from None
                delay = self._backoff_s(attempt, _retry_after_s(exc))
                log.warning(
                    "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                    model,
                    attempt,
                    self.max_attempts,
                    what[:300],
                    delay,
                )
                time.sleep(delay)
                continue
            return self._read(model, response)
        raise AssertionError("unreachable")

    def _read(self, model: str, response: Any) -> _Raw:
        choice = response.choices[0]
        raw_usage = getattr(response, "usage", None)
        prompt = int(getattr(raw_usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(raw_usage, "completion_tokens", 0) or 0)
        cost = self.cost_of(model, response, prompt, completion)
        usage = Usage(calls=1, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost)
        return _Raw(choice.message.content, choice.finish_reason, usage)


class Session:
    """One sample's view of the client (implements contracts.LLMSession)."""

    def __init__(self, client: LLMClient):
        self.client = client
        self.usage = Usage()
        self.calls: list[dict[str, Any]] = []  # raw evidence: one entry per call, see _note
        self._lock = threading.Lock()

    def _note(self, model: str, key: str, text: str | None, *, cached: bool) -> None:
        """Keep what one call answered (and under which cache key), for the sample's record."""
        with self._lock:
            self.calls.append({"model": model, "cache_key": key, "cached": cached, "text": text})

    def _cache_get(self, key: str) -> dict[str, Any] | None:
        cache = self.client.cache
        if cache is None or self.client.cache_mode != "use":
            return None
        return cache.get_json(CACHE_NS, key)

    def _cache_put(
        self,
        key: str,
        model: str,
        endpoint: str | None,
        text: str,
        finish_reason: str | None,
        usage: Usage,
    ) -> None:
        if self.client.cache is None:
            return
        self.client.cache.put_json(
            CACHE_NS,
            key,
            {
                "model": model,
                "endpoint": endpoint,
                "text": redact_text(text),
                "finish_reason": finish_reason,
                "calls": usage.calls,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cost_usd": usage.cost_usd,
                "created": time.time(),
            },
        )

    def _serve_hit(self, record: dict[str, Any]) -> CompletionReply:
        usage = Usage(
            calls=1,
            cached_calls=1,
            prompt_tokens=int(record.get("prompt_tokens", 0)),
            completion_tokens=int(record.get("completion_tokens", 0)),
            cost_usd=0.0,
        )
        original = record.get("cost_usd")
        self.client._account(self, usage, saved=original)
        return CompletionReply(
            record["text"],
            usage,
            cached=True,
            finish_reason=record.get("finish_reason"),
            original_cost_usd=original,
        )

    def complete(
        self, model: str, messages: list[dict[str, Any]], **params: Any
    ) -> CompletionReply:
        """One chat completion (cached). A truncated or empty reply is returned but not cached."""
        key = request_key("text", model, messages, params)
        with self.client.single_flight(key):
            return self._complete(key, model, messages, params)

    def _complete(
        self, key: str, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> CompletionReply:
        record = self._cache_get(key)
        if record is not None:
            self._note(model, key, record["text"], cached=True)
            return self._serve_hit(record)
        raw = self.client.call(model, messages, params)
        self.client._account(self, raw.usage)
        self._note(model, key, raw.text, cached=False)
        if raw.text and raw.finish_reason != "length":
            self._cache_put(
                key, model, endpoint_of(model, params), raw.text, raw.finish_reason, raw.usage
            )
        return CompletionReply(
            raw.text or "",
            raw.usage,
            finish_reason=raw.finish_reason,
            original_cost_usd=raw.usage.cost_usd,
        )

    def complete_json(
        self,
        model: str,
        messages: list[dict[str, Any]],
        schema: dict[str, Any],
        parse: Callable[[Any], T],
        **params: Any,
    ) -> T:
        """A JSON-schema completion validated by `parse` (which raises ValueError when unusable).

        An invalid reply (not JSON, rejected by `parse`, or cut off at max_tokens) is asked again
        once as is, then once more with the bad reply and the error shown to the model; after
        that ParseError. Every attempt is paid for and counted in `usage`.
        """
        params = {**params, "response_format": json_schema_format(schema)}
        key = request_key("json", model, messages, params)
        with self.client.single_flight(key):
            return self._complete_json(key, model, messages, parse, params)

    def _complete_json(
        self,
        key: str,
        model: str,
        messages: list[dict[str, Any]],
        parse: Callable[[Any], T],
        params: dict[str, Any],
    ) -> T:
        record = self._cache_get(key)
        if record is not None:
            try:
                value = parse(decode_json(record["text"]))
            except (ValueError, KeyError, TypeError):
                pass  # stored under an older `parse` that accepted it: ask again
            else:
                self._note(model, key, record["text"], cached=True)
                self._serve_hit(record)
                return value

        total = Usage()
        conversation = list(messages)
        errors: list[str] = []
        last_text: str | None = None
        for attempt in range(3):
            if attempt == 2:  # the re-ask: show the model its reply and what was wrong with it
                conversation = list(messages) + [
                    {"role": "assistant", "content": last_text or "(empty reply)"},
                    {"role": "user", "content": reask_message(errors[-1])},
                ]
            raw = self.client.call(model, conversation, params)
            self.client._account(self, raw.usage)
            self._note(model, key, raw.text, cached=False)
            total.add(raw.usage)
            last_text = raw.text
            try:
                if raw.finish_reason == "length":
                    raise ValueError("the reply was cut off at max_tokens before the JSON ended")
                value = parse(decode_json(raw.text))
            except (ValueError, KeyError, TypeError) as exc:
                errors.append(
                    f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
                )
                log.info(
                    "%s: invalid JSON reply (attempt %d/3): %s",
                    model,
                    attempt + 1,
                    errors[-1][:300],
                )
                continue
            assert raw.text is not None  # decode_json rejected None
            self._cache_put(
                key, model, endpoint_of(model, params), raw.text, raw.finish_reason, total
            )
            return value
        raise ParseError(
            redact_text(
                f"{model}: no valid JSON answer after 3 attempts "
                f"(retry and re-ask); last error: {errors[-1]}"
            )
        )
