"""curate.packed_forward: the scorer's unpadded Llama forward gives Hugging Face's losses and hidden states
(fp32, tiny random models built from a config), for every layout it builds: one attention chunk or four,
filler tokens in pad slots or in a row of their own, grouped-query heads, rope scaling."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from curate import packed_forward  # noqa: E402
from curate.model_signals import _batch_losses  # noqa: E402

IGNORE = -100


def _llama(**overrides):
    config = transformers.LlamaConfig(**{
        "vocab_size": 97, "hidden_size": 48, "intermediate_size": 80, "num_hidden_layers": 2,
        "num_attention_heads": 6, "num_key_value_heads": 2, "max_position_embeddings": 512, **overrides})
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():  # norm weights start at 1: move them, so that folding them in is checked
        for p in model.parameters():
            if p.dim() == 1:
                p.normal_(1, 0.3)
    return model


def _seqs(lengths: list[int], seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """Random token rows, the first third of each a prompt (unlabelled)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        ids = torch.randint(0, 97, (n,), generator=g).tolist()
        out.append((ids, [IGNORE] * (n // 3) + ids[n // 3:]))
    return out


def _hf_loss(model, ids: list[int], labels: list[int]) -> float:
    with torch.no_grad():
        return float(model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss)


# widths below 32 (one chunk), 64 and 100 (two, three) and past 128 (four chunks); token counts that leave
# free pad slots, equal lengths, where the filler tokens need a row of their own, and both at once
LAYOUTS = {"short rows": [5, 9, 12, 17], "long rows, 4 chunks": [150, 131, 97, 140],
           "2 chunks": [64, 50], "3 chunks": [100, 81, 99], "equal lengths, a filler row": [37, 37, 37],
           "fillers in a pad slot and a row of their own": [20, 19], "one row": [23], "one-token rows": [1, 2, 1]}


@pytest.mark.parametrize("lengths", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_losses_equal_hugging_face_one_sequence_at_a_time(lengths):
    model = _llama()
    seqs = _seqs(lengths)
    assert packed_forward.supports(model)
    got = _batch_losses(model, seqs, 0, "cpu")
    want = [_hf_loss(model, ids, labels) for ids, labels in seqs]
    # a one-token row predicts nothing: nan in both
    assert all(a == pytest.approx(b, abs=1e-5, nan_ok=True) for a, b in zip(got, want))


def test_hidden_states_equal_hugging_face_token_by_token():
    model = _llama()
    seqs = [ids for ids, _ in _seqs([40, 33, 21])]
    with torch.inference_mode():
        hidden, head = packed_forward.hidden_states(model, seqs)
        rows = 0
        for ids in seqs:
            want = model.model(input_ids=torch.tensor([ids])).last_hidden_state[0]
            # ours is scaled to unit rms; the final norm's weight sits in the head
            got = hidden[rows:rows + len(ids)] * model.model.norm.weight
            assert torch.allclose(got, want, atol=1e-5)
            assert torch.allclose(head(hidden[rows:rows + len(ids)]), model.lm_head(want), atol=1e-4)
            rows += len(ids)
    assert rows == len(hidden)


CONFIGS = {
    "linear rope scaling": {"rope_scaling": {"rope_type": "linear", "factor": 2.0}},
    "yarn (attention scaling != 1)": {"rope_scaling": {"rope_type": "yarn", "factor": 4.0,
                                                       "original_max_position_embeddings": 32}},
    "head_dim not hidden / heads": {"head_dim": 10},
    "one kv head": {"num_key_value_heads": 1},
    "no grouping": {"num_key_value_heads": 6},
    "tied embeddings": {"tie_word_embeddings": True},
}


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_llama_variants_equal_hugging_face(overrides):
    model = _llama(**overrides)
    assert packed_forward.supports(model)
    seqs = _seqs([60, 45, 71])
    got = _batch_losses(model, seqs, 0, "cpu")
    assert max(abs(a - b) for a, b in zip(got, [_hf_loss(model, *s) for s in seqs])) < 1e-5


def test_several_workers_give_the_serial_losses_bit_for_bit():
    from curate.cpu_workers import MAX_WORKERS
    from curate.model_signals import mean_losses

    model = _llama().to(torch.bfloat16)
    seqs = _seqs([30, 41, 17, 64, 52, 9, 33, 70, 25, 48], seed=3)
    serial = [_batch_losses(model, [s], 0, "cpu")[0] for s in seqs]
    threads = torch.get_num_threads()
    torch.set_num_threads(max(2, MAX_WORKERS))  # several workers even on a one-core runner
    try:
        parallel = mean_losses(model, seqs, 0, "cpu", batch_tokens=128)
    finally:
        torch.set_num_threads(threads)
    # batches of several rows give each row the same loss as a batch of one: nothing crosses rows
    assert max(abs(a - b) for a, b in zip(parallel, serial)) < 2e-2
    assert mean_losses(model, seqs, 0, "cpu", batch_tokens=128) == parallel


def test_models_it_does_not_reproduce_keep_hugging_face_forward():
    model = _llama(attention_bias=True)  # q/k/v biases: not this forward's
    assert not packed_forward.supports(model)
    partial = _llama(rope_scaling={"rope_type": "linear", "factor": 2.0, "partial_rotary_factor": 0.5})
    assert not packed_forward.supports(partial)
    adapted = _llama()
    adapted.model.layers[0].self_attn.q_proj = torch.nn.Sequential(adapted.model.layers[0].self_attn.q_proj)
    assert not packed_forward.supports(adapted)  # a wrapped projection (LoRA and the like): not a plain Linear
    seqs = _seqs([30, 18, 25])
    got = _batch_losses(model, seqs, 0, "cpu")
    assert max(abs(a - b) for a, b in zip(got, [_hf_loss(model, *s) for s in seqs])) < 1e-5


def test_bf16_losses_stay_near_fp32():
    model = _llama()
    seqs = _seqs([50, 64, 41])
    fp32 = _batch_losses(model, seqs, 0, "cpu")
    bf16 = _batch_losses(model.to(torch.bfloat16), seqs, 0, "cpu")
    assert max(abs(a - b) for a, b in zip(fp32, bf16)) < 0.05


def test_weights_are_prepared_once_and_again_after_a_change():
    model = _llama()
    first = packed_forward.prepare(model)
    assert packed_forward.prepare(model) is first
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight.mul_(2)  # an edit in place: stale too
    second = packed_forward.prepare(model)
    assert second is not first
    model.to(torch.bfloat16)  # new weight tensors
    assert packed_forward.prepare(model) is not second


def test_prepacked_bf16_linear_is_f_linear():
    if not packed_forward._prepack_works():
        pytest.skip("no oneDNN prepacked linear in this torch build: the scorer uses F.linear")
    torch.manual_seed(0)
    w = torch.randn(100, 48, dtype=torch.bfloat16)
    linear = packed_forward._linear(w)
    for rows in (1, 16, 37, 256):
        x = torch.randn(rows, 48, dtype=torch.bfloat16)
        assert torch.equal(linear(x), torch.nn.functional.linear(x, w))


def test_a_stateful_rotary_embedding_is_never_called_from_two_workers():
    """Dynamic and longrope rotary modules rewrite their frequencies on a call: on Hugging Face's padded
    forward (which calls them unguarded) such a model runs one batch at a time, in the caller's thread."""
    import threading

    from curate.cpu_workers import MAX_WORKERS, run_batches, stateful_rope
    from curate.model_signals import mean_losses
    from train.evalset import token_batches

    dynamic = _llama(attention_bias=True, max_position_embeddings=32, rope_scaling={"rope_type": "dynamic", "factor": 2.0})
    assert stateful_rope(dynamic) and not packed_forward.supports(dynamic)
    assert not stateful_rope(_llama()) and not stateful_rope(_llama(rope_scaling={"rope_type": "linear", "factor": 2.0}))
    assert {*run_batches(lambda _: threading.get_ident(), range(6), "cpu", parallel=False)} == {threading.get_ident()}
    seqs = _seqs([40, 20, 70, 12, 50, 33, 64, 9], seed=5)  # rows past 32 positions make the module grow its angles
    batches = token_batches([len(s[0]) for s in seqs], 128)
    serial = {i: loss for b in batches for i, loss in zip(b, _batch_losses(dynamic, [seqs[i] for i in b], 0, "cpu"))}
    callers = set()
    hook = dynamic.model.rotary_emb.register_forward_hook(lambda *_: callers.add(threading.get_ident()))
    threads = torch.get_num_threads()
    torch.set_num_threads(max(2, MAX_WORKERS))  # workers would run at once here, were they allowed
    try:
        got = mean_losses(dynamic, seqs, 0, "cpu", batch_tokens=128)
    finally:
        torch.set_num_threads(threads)
        hook.remove()
    assert callers == {threading.get_ident()} and len(batches) > 1  # every batch's rotary call, in this thread
    assert got == [serial[i] for i in range(len(seqs))]
