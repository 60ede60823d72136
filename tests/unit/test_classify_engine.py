"""Inference engine: chunking of long texts, token-budget batches, device/dtype choice, OOM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentinel.classify import engine
from sentinel.classify.engine import (
    PackedLinear,
    Runner,
    choose_device,
    choose_precision,
    cpu_flags,
    cpu_supports_bf16,
    make_batches,
    plan_chunks,
    split_sentences,
)
from sentinel.errors import ConfigError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    from sentinel.classify.model import load_multitask
    from sentinel.classify.testing import write_tiny_multitask

    model_dir = write_tiny_multitask(tmp_path_factory.mktemp("tiny") / "model", seed=1)
    model, tokenizer, meta = load_multitask(model_dir)
    return model_dir, model, tokenizer


def runner(model, tokenizer, **kw) -> Runner:
    options = {"device": "cpu", "precision": "fp32", "max_length": 16, "token_budget": 64}
    options.update(kw)
    return Runner(model, tokenizer, **options)


# --- device and precision -----------------------------------------------------------------


def test_device_auto_prefers_cuda_then_mps_then_cpu() -> None:
    assert choose_device("auto", cuda=True, mps=True) == "cuda"
    assert choose_device("auto", cuda=False, mps=True) == "mps"
    assert choose_device("auto", cuda=False, mps=False) == "cpu"
    assert choose_device("cpu", cuda=True, mps=False) == "cpu"
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        choose_device("cuda", cuda=False, mps=False)
    with pytest.raises(ConfigError, match="not one of"):
        choose_device("tpu")


def test_precision_auto_uses_bf16_only_where_the_hardware_has_it() -> None:
    assert choose_precision("cuda", "auto", cuda_bf16=True) == "bf16"
    assert choose_precision("cuda", "auto", cuda_bf16=False) == "fp16"
    assert choose_precision("mps", "auto") == "fp16"
    assert choose_precision("cpu", "auto", flags={"avx512f", "avx512_bf16"}) == "bf16"
    assert choose_precision("cpu", "auto", flags={"amx_bf16", "amx_tile"}) == "bf16"
    assert choose_precision("cpu", "auto", flags={"avx2", "avx512f"}) == "fp32"
    assert choose_precision("cpu", "int8", flags=set()) == "int8"
    assert choose_precision("cpu", "fp32", flags={"avx512_bf16"}) == "fp32"
    with pytest.raises(ConfigError, match="GPU-only"):
        choose_precision("cpu", "fp16", flags=set())
    with pytest.raises(ConfigError, match="CPU path"):
        choose_precision("cuda", "int8", cuda_bf16=True)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n\nflags\t: other\n")
    assert cpu_flags(str(info)) == {"fpu", "sse", "avx512f", "avx512_bf16"}
    assert cpu_supports_bf16(cpu_flags(str(info)))
    assert cpu_flags(str(tmp_path / "missing")) == set()


# --- chunking and batching -----------------------------------------------------------------


def test_short_texts_are_one_chunk_each(tiny) -> None:
    _, _, tokenizer = tiny
    chunks = plan_chunks(tokenizer, ["the stock rises", "oil falls"], max_length=16)
    assert chunks.owner == [0, 1]
    assert (
        chunks.ids[0][0] == tokenizer.cls_token_id and chunks.ids[0][-1] == tokenizer.sep_token_id
    )


def test_long_text_is_split_at_sentences_not_truncated(tiny) -> None:
    _, _, tokenizer = tiny
    sentences = ["the stock rises after record earnings."] * 6
    text = " ".join(sentences)
    chunks = plan_chunks(tokenizer, ["short one", text], max_length=16)
    own = [ids for ids, o in zip(chunks.ids, chunks.owner, strict=True) if o == 1]
    assert len(own) > 1 and all(len(ids) <= 16 for ids in own)
    body = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert sum(len(ids) - 2 for ids in own) == len(body)  # every token lands in a chunk
    one_sentence = tokenizer(sentences[0], add_special_tokens=False)["input_ids"]
    assert own[0][1:-1] == one_sentence * (len(own[0][1:-1]) // len(one_sentence))


def test_sentence_longer_than_a_chunk_is_windowed(tiny) -> None:
    _, _, tokenizer = tiny
    text = " ".join(["stock"] * 40)
    chunks = plan_chunks(tokenizer, [text], max_length=16)
    assert [len(ids) for ids in chunks.ids] == [16, 16, 14]


def test_split_sentences() -> None:
    assert split_sentences("Shares fell. Oil rose! Why?\nNew line") == [
        "Shares fell.",
        "Oil rose!",
        "Why?",
        "New line",
    ]


def test_batches_respect_the_token_budget_and_cover_every_row() -> None:
    lengths = [5, 30, 12, 12, 7, 64, 3, 30]
    batches = make_batches(lengths, token_budget=64)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 64
    assert batches[0] == [5]  # longest first


def test_cost_based_batches_trade_padding_for_batches() -> None:
    lengths = [40, 40, 10, 10, 10, 10, 10, 10]
    greedy = make_batches(lengths, token_budget=400)
    assert greedy == [list(range(8))]  # one batch of 8 rows x 40 tokens: 320, 60% padding
    # a forward pass that costs 20 tokens: 2x40 + 6x10 + 2x20 = 180 < 320 + 20
    assert make_batches(lengths, token_budget=400, batch_cost=20) == [[0, 1], [2, 3, 4, 5, 6, 7]]
    # one that costs 300 tokens: a second pass is dearer than the padding it saves
    assert make_batches(lengths, token_budget=400, batch_cost=300) == greedy
    # the budget still holds, and every row is in exactly one batch
    mixed = [5, 30, 12, 12, 7, 64, 3, 30, 17, 9, 9, 9]
    for cost in (0, 16, 64, 1000):
        batches = make_batches(mixed, token_budget=64, batch_cost=cost)
        assert sorted(i for b in batches for i in b) == list(range(len(mixed)))
        assert all(len(b) * max(mixed[i] for i in b) <= 64 for b in batches)


def test_chunk_probabilities_are_averaged_per_text(tiny) -> None:
    _, model, tokenizer = tiny
    run = runner(model, tokenizer)
    a = "the stock rises after record earnings and revenue growth."
    b = "oil falls as opec cut the price of gas and energy."
    long_text = f"{a} {b}"
    chunks = plan_chunks(tokenizer, [long_text], max_length=16)
    assert len(chunks.ids) == 2
    together = run.probabilities([long_text])
    parts = run.probabilities([a, b])
    for task in ("sentiment", "topic"):
        np.testing.assert_allclose(together[task][0], parts[task].mean(0), atol=1e-5)


def test_batching_does_not_change_results(tiny) -> None:
    _, model, tokenizer = tiny
    texts = ["the stock rises", "oil falls after opec cut output. gold gains", "fed", "ceo resigns"]
    small = runner(model, tokenizer, token_budget=16).probabilities(texts)
    big = runner(model, tokenizer, token_budget=4096).probabilities(texts)
    one_by_one = [runner(model, tokenizer).probabilities([t]) for t in texts]
    for task in small:
        np.testing.assert_allclose(small[task], big[task], atol=1e-5)
        np.testing.assert_allclose(
            small[task], np.concatenate([o[task] for o in one_by_one]), atol=1e-5
        )


def test_blocks_tokenised_in_the_background_give_the_same_results(tiny) -> None:
    _, model, tokenizer = tiny
    texts = [f"the stock rises {i}. oil falls after opec cut output" for i in range(9)]
    whole = runner(model, tokenizer).probabilities(texts)
    blocks = runner(model, tokenizer, block_texts=2, overlap=True).probabilities(texts)
    for task in whole:
        np.testing.assert_allclose(blocks[task], whole[task], atol=1e-5)


# --- out of memory -------------------------------------------------------------------------


def test_out_of_memory_splits_the_batch_and_carries_on(tiny, monkeypatch) -> None:
    _, model, tokenizer = tiny
    texts = [f"the stock rises {i}" for i in range(10)]
    expected = runner(model, tokenizer, token_budget=4096).probabilities(texts)

    run = runner(model, tokenizer, token_budget=4096)
    real_forward = run.forward
    sizes: list[int] = []

    def forward_with_small_memory(rows):
        sizes.append(len(rows))
        if len(rows) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(rows)

    monkeypatch.setattr(run, "forward", forward_with_small_memory)
    got = run.probabilities(texts)
    assert sizes[0] == 10 and max(s for s in sizes[1:] if s <= 3) <= 3
    assert run.splits >= 3
    for task in expected:
        np.testing.assert_allclose(got[task], expected[task], atol=1e-5)


def test_other_errors_and_single_row_oom_propagate(tiny, monkeypatch) -> None:
    _, model, tokenizer = tiny
    run = runner(model, tokenizer)

    def broken(rows):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(run, "forward", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        run.probabilities(["the stock rises", "oil falls"])

    def always_oom(rows):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(run, "forward", always_oom)
    with pytest.raises(torch.OutOfMemoryError):
        run.probabilities(["the stock rises", "oil falls"])


# --- precision paths ---------------------------------------------------------------------


def test_runner_leaves_the_callers_model_alone(tiny) -> None:
    _, model, tokenizer = tiny
    runner(model, tokenizer, precision="bf16")
    assert next(model.parameters()).dtype == torch.float32
    assert not any(isinstance(m, PackedLinear) for m in model.modules())


@pytest.mark.skipif(not engine.cpu_supports_bf16(),
                    reason="this CPU has no avx512_bf16/AMX: bf16 is not the CPU default here and "
                           "oneDNN's packed bf16 layers need it")
def test_cpu_bf16_packs_the_linear_layers_without_changing_a_bit(tiny, monkeypatch) -> None:
    _, model, tokenizer = tiny
    texts = ["oil falls as opec cut the price", "the stock rises after record earnings", "why?"]
    packed = runner(model, tokenizer, precision="bf16")
    linears = sum(1 for m in model.modules() if type(m) is torch.nn.Linear)
    assert packed.packed == linears > 0
    assert not any(type(m) is torch.nn.Linear for m in packed.model.modules())
    monkeypatch.setattr(engine, "pack_linears", lambda model: 0)
    plain = runner(model, tokenizer, precision="bf16")
    assert plain.packed == 0
    ours, theirs = packed.probabilities(texts), plain.probabilities(texts)
    for task in ours:
        np.testing.assert_array_equal(ours[task], theirs[task])
    assert runner(model, tokenizer, precision="fp32").packed == 0


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_fast_cpu_paths_agree_with_fp32_on_the_tiny_model(tiny, precision) -> None:
    _, model, tokenizer = tiny
    texts = [
        " ".join(t)
        for t in zip(
            ["the", "oil", "fed", "gold", "apple"] * 4,
            ["stock", "rises", "falls", "ceo", "rates"] * 4,
            strict=True,
        )
    ]
    reference = runner(model, tokenizer).probabilities(texts)
    fast = runner(model, tokenizer, precision=precision).probabilities(texts)
    for task in reference:
        np.testing.assert_allclose(fast[task], reference[task], atol=0.05)


def test_temperatures_divide_the_logits_of_their_task_only(tiny) -> None:
    from sentinel.classify.calibrate import softmax, uncalibrate

    _, model, tokenizer = tiny
    texts = ["the stock rises", "oil falls after opec cut output", "ceo resigns"]
    plain = runner(model, tokenizer).probabilities(texts)
    warm = runner(model, tokenizer, temperatures={"sentiment": 2.0}).probabilities(texts)
    np.testing.assert_allclose(warm["topic"], plain["topic"], atol=1e-6)
    np.testing.assert_allclose(uncalibrate(warm["sentiment"], 2.0), plain["sentiment"], atol=1e-5)
    np.testing.assert_allclose(warm["sentiment"], softmax(np.log(plain["sentiment"]), 2.0),
                               atol=1e-5)
    assert (warm["sentiment"].argmax(1) == plain["sentiment"].argmax(1)).all()


def test_the_classifier_applies_the_temperature_stored_with_the_model(tiny, tmp_path) -> None:
    import json
    import shutil

    from sentinel.classify.classifier import load_classifier

    model_dir, _, _ = tiny
    calibrated = tmp_path / "calibrated"
    shutil.copytree(model_dir, calibrated)
    meta = json.loads((calibrated / "sentinel.json").read_text())
    meta["calibration"] = {"temperature": {"sentiment": 3.0}}
    (calibrated / "sentinel.json").write_text(json.dumps(meta))
    texts = ["the stock rises", "ceo resigns"]
    plain = load_classifier(model_dir, device="cpu", precision="fp32")
    warm = load_classifier(calibrated, device="cpu", precision="fp32")
    assert warm.temperatures() == {"sentiment": 3.0, "topic": 1.0}
    np.testing.assert_allclose(warm.predict_proba(texts)["sentiment"],
                               np.exp(np.log(plain.predict_proba(texts)["sentiment"]) / 3.0)
                               / np.exp(np.log(plain.predict_proba(texts)["sentiment"]) / 3.0)
                               .sum(1, keepdims=True), atol=1e-5)
