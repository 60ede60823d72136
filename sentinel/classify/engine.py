"""Batched inference: length-bucketed, token-budgeted batches, one forward pass for all heads.

Texts are cleaned (``prepare_text``), tokenised once, split into sentence chunks when longer than
``max_length`` (probabilities of a text's chunks are averaged), sorted by length and packed into
batches of at most ``token_budget`` padded tokens. Device: cuda, then mps, then cpu unless set.
Precision: bf16 (or fp16) on GPU; on CPU bf16 when the processor has native bf16
(avx512_bf16 / AMX), optional dynamic int8, else fp32. The default token budget is small on CPU
(2048: batches that stay in cache were measured faster than 8k-32k) and large on GPU. A CUDA
out-of-memory error halves the batch and carries on.
"""

from __future__ import annotations

import copy
import logging
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from sentinel.classify.model import TaskModel, prepare_text
from sentinel.errors import ConfigError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
TOKEN_BUDGETS = {"cpu": 2048, "mps": 8192, "cuda": 65536}
# The fixed cost of one forward pass, in padded tokens, for cost-based batching (see
# make_batches). Measured on CPU (bf16, 2 cores): one pass costs about 5 ms + 85 us per
# padded token, and 80-150 gave the fastest runs. A GPU keeps greedy, budget-filled batches.
BATCH_COSTS = {"cpu": 120}
DEVICES = ("auto", "cpu", "cuda", "mps")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


# --- hardware choices (pure functions over injectable facts) -------------------------------


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags of the first processor, empty when unknown (non-Linux)."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("flags") or line.startswith("Features"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_supports_bf16(flags: set[str] | None = None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def choose_device(
    requested: str = "auto", *, cuda: bool | None = None, mps: bool | None = None
) -> str:
    if requested not in DEVICES:
        raise ConfigError(f"device {requested!r} is not one of {', '.join(DEVICES)}")
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if mps is None:
        mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if requested == "cuda" and not cuda:
        raise ConfigError("device 'cuda' requested but torch sees no CUDA GPU; use auto or cpu")
    if requested == "mps" and not mps:
        raise ConfigError("device 'mps' requested but MPS is not available; use auto or cpu")
    return requested


def choose_precision(
    device: str,
    requested: str = "auto",
    *,
    flags: set[str] | None = None,
    cuda_bf16: bool | None = None,
) -> str:
    """fp32 / bf16 / fp16 / int8 for ``device``; ``auto`` picks the fastest accurate one."""
    if requested not in PRECISIONS:
        raise ConfigError(f"precision {requested!r} is not one of {', '.join(PRECISIONS)}")
    if device == "cuda":
        if cuda_bf16 is None:
            cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        if requested == "auto":
            return "bf16" if cuda_bf16 else "fp16"
        if requested == "int8":
            raise ConfigError("precision int8 is a CPU path; use bf16 or fp16 on cuda")
        return requested
    if device == "mps":
        if requested == "int8":
            raise ConfigError("precision int8 is a CPU path; use fp16 or fp32 on mps")
        return "fp16" if requested == "auto" else requested
    if requested == "auto":
        return "bf16" if cpu_supports_bf16(flags) else "fp32"
    if requested == "fp16":
        raise ConfigError("precision fp16 is GPU-only; on CPU use bf16, int8 or fp32")
    return requested


# --- chunking and batching ------------------------------------------------------------------


@dataclass
class Chunks:
    """Token ids (with special tokens) of every chunk, and the text each chunk belongs to."""

    ids: list[list[int]]
    owner: list[int]
    n_texts: int


def split_sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text)) if s]


def plan_chunks(
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int,
    specials: tuple[list[int], list[int]] | None = None,
    prepare: Callable[[str], str] = prepare_text,
) -> Chunks:
    """Tokenise every text (cleaned by ``prepare``, the model's own text preparation); a text
    over ``max_length`` tokens becomes sentence-packed chunks (a sentence longer than a chunk is
    cut into windows). Nothing is silently truncated."""
    prefix, suffix = specials or special_tokens(tokenizer)
    room = max_length - len(prefix) - len(suffix)
    if room < 8:
        raise ConfigError(f"max_length {max_length} leaves no room for text")
    cleaned = [prepare(t) for t in texts]
    bodies = tokenizer(cleaned, add_special_tokens=False, truncation=False, verbose=False)[
        "input_ids"
    ]
    chunks: list[list[int]] = []
    owner: list[int] = []
    for i, body in enumerate(bodies):
        pieces = [body] if len(body) <= room else _pack(tokenizer, cleaned[i], room)
        for piece in pieces or [[]]:
            chunks.append(prefix + piece + suffix)
            owner.append(i)
    return Chunks(chunks, owner, len(texts))


def special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after one sequence ([CLS]/[SEP], <s>/</s>)."""
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    body = tokenizer("a", add_special_tokens=False)["input_ids"]
    for start in range(len(full) - len(body) + 1):
        if full[start : start + len(body)] == body:
            return full[:start], full[start + len(body) :]
    raise ConfigError("cannot tell which special tokens this tokenizer adds")


def _pack(tokenizer: Any, text: str, room: int) -> list[list[int]]:
    sentences = split_sentences(text)
    encoded = tokenizer(sentences, add_special_tokens=False, verbose=False)["input_ids"]
    pieces: list[list[int]] = []
    current: list[int] = []
    for ids in encoded:
        if len(ids) > room:
            if current:
                pieces.append(current)
                current = []
            pieces.extend(ids[i : i + room] for i in range(0, len(ids), room))
            continue
        if len(current) + len(ids) > room:
            pieces.append(current)
            current = []
        current = current + ids
    if current:
        pieces.append(current)
    return pieces


def make_batches(
    lengths: Sequence[int],
    token_budget: int,
    max_batch: int = 512,
    batch_cost: int | None = None,
) -> list[list[int]]:
    """Indices sorted longest first, grouped so that rows x longest row <= ``token_budget``.

    Without ``batch_cost``, batches are filled greedily. With it, the split of the sorted rows
    is the cheapest one when a batch costs its padded tokens plus ``batch_cost`` (the fixed
    cost of one forward pass, in tokens): a short dynamic programme that stops filling a batch
    where the next rows would carry more padding than a new batch costs. On CPU, where padded
    tokens are paid in full, that was measured 10-24% faster than greedy batches on the same
    texts (headlines, 333-1000 per call, bf16, 2 cores).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    if batch_cost is None:
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            width = lengths[current[0]] if current else lengths[i]
            if current and ((len(current) + 1) * width > token_budget
                            or len(current) >= max_batch):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches
    widths = np.asarray([lengths[i] for i in order], dtype=np.int64)
    best = np.zeros(len(order) + 1)  # best[j]: cheapest cost of the first j sorted rows
    start = np.zeros(len(order) + 1, dtype=np.int64)  # where the last batch of best[j] starts
    for j in range(1, len(order) + 1):
        first = np.arange(max(0, j - max_batch), j)
        rows = j - first
        padded = widths[first] * rows  # a batch is as wide as its first (longest) row
        cost = np.where((padded <= token_budget) | (rows == 1),
                        best[first] + batch_cost + padded, np.inf)
        k = int(np.argmin(cost))
        best[j], start[j] = cost[k], first[k]
    bounds, j = [], len(order)
    while j > 0:
        bounds.append((int(start[j]), j))
        j = int(start[j])
    return [order[a:b] for a, b in reversed(bounds)]


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int,
              multiple: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Token ids padded to the longest row (rounded up to ``multiple``) and the attention
    mask, both int64 (rows x width): what inference and training feed the encoder."""
    width = -(-max(len(r) for r in rows) // multiple) * multiple
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for j, r in enumerate(rows):
        ids[j, : len(r)] = r
        mask[j, : len(r)] = 1
    return ids, mask


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


# --- CPU bf16: linear layers with their weights packed once -----------------------------------


class PackedLinear(nn.Module):
    """A bf16 ``nn.Linear`` whose weight is reordered once into oneDNN's blocked layout (what
    torch.compile's CPU freezing does). A plain bf16 ``F.linear`` reorders the weight on every
    call; packed, the same matmuls gave bit-identical outputs and the shipped model ran 14%
    faster here (468 -> 533 texts/s)."""

    def __init__(self, linear: nn.Linear, packed: torch.Tensor):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed = packed
        self.bias = None if linear.bias is None else linear.bias.detach()

    @classmethod
    def pack(cls, linear: nn.Linear) -> PackedLinear:
        weight = linear.weight.detach()
        return cls(linear, torch.ops.mkldnn._reorder_linear_weight(weight, 2048))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        out = torch.ops.mkldnn._linear_pointwise(rows, self.packed, self.bias, "none", [], "")
        return out.reshape(*x.shape[:-1], self.out_features)


def pack_linears(model: nn.Module) -> int:
    """Replace the bf16 ``nn.Linear`` layers of ``model`` (in place) by :class:`PackedLinear`;
    returns how many. Nothing is replaced where this torch has no oneDNN packing, or where a
    packed layer does not reproduce ``F.linear`` on a probe."""
    try:
        probe = nn.Linear(16, 8).to(torch.bfloat16)
        x = torch.randn(3, 5, 16, dtype=torch.bfloat16)
        with torch.inference_mode():
            if not torch.equal(PackedLinear.pack(probe)(x), probe(x)):
                return 0
    except (AttributeError, RuntimeError, NotImplementedError):
        return 0
    swaps = [(parent, name, child) for parent in model.modules()
             for name, child in parent.named_children()
             if type(child) is nn.Linear and child.weight.dtype == torch.bfloat16]
    for parent, name, child in swaps:
        setattr(parent, name, PackedLinear.pack(child))
    return len(swaps)


# --- the runner: one model on one device at one precision -----------------------------------


class Runner:
    """Runs one dict-of-logits model over chunk batches and returns per-task probabilities."""

    def __init__(
        self,
        model: TaskModel,
        tokenizer: Any,
        *,
        device: str,
        precision: str,
        max_length: int,
        token_budget: int,
        block_texts: int = 8192,
        overlap: bool | None = None,
        autocast: bool = False,
        owns_model: bool = False,
        temperatures: Mapping[str, float] | None = None,
        prepare: Callable[[str], str] = prepare_text,
    ):
        self.tokenizer = tokenizer
        self.prepare = prepare
        # calibration: a task's logits are divided by its temperature before the softmax
        self.temperatures = {t: float(v) for t, v in (temperatures or {}).items()
                             if t in model.tasks and float(v) != 1.0}
        self.device = device
        self.precision = precision
        self.max_length = max_length
        self.token_budget = max(token_budget, max_length)
        self.tasks: dict[str, list[str]] = dict(model.tasks)
        self.specials = special_tokens(tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        model = model.eval()
        if precision == "int8":
            with warnings.catch_warnings():  # eager dynamic quantisation is deprecated upstream
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(
                    model, {nn.Linear}, dtype=torch.qint8
                )
        else:
            cast = precision in ("bf16", "fp16") and not autocast
            if not owns_model and (cast or device != "cpu"):
                model = copy.deepcopy(model)  # .to() works in place: keep the caller's model
            if cast:
                model = model.to(torch.bfloat16 if precision == "bf16" else torch.float16)
        self.model = model.to(device)
        self.packed = 0  # linear layers with prepacked weights (CPU bf16)
        if device == "cpu" and precision == "bf16" and not autocast:
            self.packed = pack_linears(self.model)  # on our own copy (cast above)
        # autocast leaves the weights alone (a model still being trained); casting them is
        # a little faster and measured to give the same labels as fp32 on the shipped model.
        self.autocast = autocast and device == "cpu" and precision == "bf16"
        self.splits = 0  # batches split after an out-of-memory error
        self.block_texts = block_texts
        self.overlap = device != "cpu" if overlap is None else overlap
        # A GPU pads rows to multiples of 8 (tensor-core tiles, fewer kernel shapes); on CPU the
        # padding is pure waste: headlines average 24 tokens, and exact widths measured 15%
        # faster (414 -> 478 texts/s, bf16, 2 cores).
        self.pad_multiple = 1 if device == "cpu" else 8

    def probabilities(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``{task: (len(texts), n_labels) float32 array}``; long texts average their chunks.

        On a GPU, texts are processed in blocks of ``block_texts`` and the next block is
        tokenised in a background thread while the current one runs (the Rust tokenizer
        releases the GIL). On CPU the cores are better spent on the matmuls: one block
        (``overlap`` overrides).
        """
        texts = list(texts)
        if not self.overlap or len(texts) <= self.block_texts:
            return self._probabilities(
                plan_chunks(self.tokenizer, texts, self.max_length, self.specials, self.prepare)
            )
        from concurrent.futures import ThreadPoolExecutor

        blocks = [texts[i : i + self.block_texts] for i in range(0, len(texts), self.block_texts)]
        parts: list[dict[str, np.ndarray]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize") as pool:

            def plan(block: list[str]) -> Chunks:
                return plan_chunks(self.tokenizer, block, self.max_length, self.specials,
                                   self.prepare)

            future = pool.submit(plan, blocks[0])
            for k in range(len(blocks)):
                chunks = future.result()
                if k + 1 < len(blocks):
                    future = pool.submit(plan, blocks[k + 1])
                parts.append(self._probabilities(chunks))
        return {t: np.concatenate([p[t] for p in parts]) for t in self.tasks}

    def _probabilities(self, chunks: Chunks) -> dict[str, np.ndarray]:
        lengths = [len(c) for c in chunks.ids]
        out = {
            t: np.zeros((len(chunks.ids), len(v)), dtype=np.float32) for t, v in self.tasks.items()
        }
        with torch.inference_mode():
            for batch in make_batches(lengths, self.token_budget,
                                      batch_cost=BATCH_COSTS.get(self.device)):
                probs = self._run([chunks.ids[i] for i in batch])
                for task, p in probs.items():
                    out[task][batch] = p
        return _average(out, chunks)

    def _run(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        try:
            return self.forward(rows)
        except (RuntimeError, torch.OutOfMemoryError) as exc:
            if not is_oom(exc) or len(rows) == 1:
                raise
            if self.device == "cuda":
                torch.cuda.empty_cache()
            self.splits += 1
            half = len(rows) // 2
            log.warning(
                "out of memory on %d rows; splitting into %d + %d",
                len(rows),
                half,
                len(rows) - half,
            )
            first, second = self._run(rows[:half]), self._run(rows[half:])
            return {t: np.concatenate([first[t], second[t]]) for t in first}

    def forward(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        ids, mask = pad_batch(rows, self.pad_id, self.pad_multiple)
        input_ids = torch.from_numpy(ids).to(self.device)
        attention = torch.from_numpy(mask).to(self.device)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
            logits = self.model(input_ids, attention)
        return {t: torch.softmax(v.float() / self.temperatures.get(t, 1.0), dim=-1).cpu().numpy()
                for t, v in logits.items()}


def _average(per_chunk: dict[str, np.ndarray], chunks: Chunks) -> dict[str, np.ndarray]:
    owner = np.asarray(chunks.owner)
    if len(owner) == chunks.n_texts:  # one chunk per text, already in order
        return per_chunk
    counts = np.bincount(owner, minlength=chunks.n_texts).astype(np.float32)[:, None]
    out = {}
    for task, probs in per_chunk.items():
        summed = np.zeros((chunks.n_texts, probs.shape[1]), dtype=np.float32)
        np.add.at(summed, owner, probs)
        out[task] = summed / counts
    return out
