"""Tiny random-weight models for tests (seconds, no downloads): a BERT base with a word-level
vocabulary, a Sentinel multi-task model, and plain sequence-classification checkpoints."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import BertTokenizer

_WORDS = (
    "the a of to in and on for with as at by from is are was be has have after before "
    "stock stocks shares share price prices market markets soars soar jumps surges rises gains "
    "rally record high beats profit growth upgrade plunges plunge falls drops slumps sinks "
    "loss losses miss misses downgrade crash weak strong fed rates rate bank central inflation "
    "oil gas energy opec gold metals dividend quarterly earnings revenue ipo merger deal buy "
    "acquire lawsuit sec ceo resigns names new company product launch apple tesla bond yields "
    "treasury dollar euro yen currency politics election tariff analyst target cut raise "
    ". , ! ? $ % - ' : ; 1 2 3 4 5 6 7 8 9 0"
)
WORDS = tuple(_WORDS.split())


def write_tiny_base(
    out_dir: str | Path, *, hidden: int = 32, layers: int = 2, seed: int = 0
) -> Path:
    """A random BERT encoder (+ tokenizer) that ``build_multitask`` can fine-tune."""
    from transformers import BertModel

    out, tokenizer, config = _start(out_dir, seed, hidden=hidden, layers=layers)
    BertModel(config, add_pooling_layer=False).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def write_tiny_multitask(out_dir: str | Path, *, name: str = "tiny", seed: int = 0) -> Path:
    """A random Sentinel multi-task model (sentiment + topic heads) saved in the shipped format."""
    import torch

    from sentinel.classify.labels import TASK_LABELS
    from sentinel.classify.model import build_multitask, save_multitask

    out = Path(out_dir)
    base = write_tiny_base(out.parent / f"{out.name}-base", seed=seed)
    torch.manual_seed(seed)
    model, tokenizer = build_multitask(base, {t: list(v) for t, v in TASK_LABELS.items()})
    save_multitask(model, tokenizer, out, name=name, max_length=64, dtype=torch.float32)
    return out


def write_tiny_sequence_classifier(
    out_dir: str | Path, id2label: Mapping[int, str], *, seed: int = 0
) -> Path:
    """A random ``BertForSequenceClassification`` checkpoint whose config carries ``id2label``."""
    from transformers import BertForSequenceClassification

    out, tokenizer, config = _start(
        out_dir, seed, hidden=32, layers=1, num_labels=len(id2label), id2label=dict(id2label),
        label2id={v: k for k, v in id2label.items()})
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _start(out_dir: str | Path, seed: int, *, hidden: int, layers: int,
           **extra: Any) -> tuple[Path, Any, Any]:
    """The output folder, the tiny tokenizer and a small BERT config; the seed is set."""
    import torch
    from transformers import BertConfig

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden,
                        num_hidden_layers=layers, num_attention_heads=4,
                        intermediate_size=hidden * 2, max_position_embeddings=128, **extra)
    return out, tokenizer, config


def _tokenizer() -> BertTokenizer:
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {w: i for i, w in enumerate(specials + list(dict.fromkeys(WORDS)))}
    return BertTokenizer(vocab=vocab)
