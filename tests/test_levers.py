"""Correctness of the speed levers (their speed is measured in bench/, never asserted here)."""

from __future__ import annotations

import json

import pytest
import torch

from tl_core import runfiles as rf
from tl_core import runs, train
from tl_core.config import TrainConfig
from tl_core.registry import get_task

from .test_training import assets, tiny_config  # noqa: F401  (module fixture reused)
from .tiny_models import make_tiny_bert


def test_dynamic_padding_matches_max_length_padding(tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = make_tiny_bert(tmp_path / "bert")
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2).eval()
    texts = ["great film", "a really very boring and awful story with bad acting", "loved it !"]
    task, cfg = get_task("text"), TrainConfig(max_length=64)
    ds = task.preprocess(Dataset.from_dict({"text": texts, "label": [1, 0, 1], "id": [0, 1, 2]}), tok, cfg)
    dynamic = task.collator(tok, cfg)([ds[i] for i in range(3)])
    fixed = tok(texts, padding="max_length", max_length=64, truncation=True, return_tensors="pt")
    assert dynamic["input_ids"].shape[1] < 64  # the lever: far fewer positions to compute
    with torch.no_grad():
        a = model(**{k: v for k, v in dynamic.items() if k != "labels"}).logits
        b = model(**fixed).logits
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.slow
def test_length_grouping_is_used_for_text_and_keeps_eval_order(assets, tmp_path, tl_home):  # noqa: F811
    from tl_core.predict import Predictor

    cfg = tiny_config("text", "full", assets, epochs=2, learning_rate=3e-3, precision="fp32")
    run_dir = runs.create_run(cfg, run_dir=tmp_path / "run")
    assert train.run(run_dir) == 0
    rows = [json.loads(line) for line in (run_dir / rf.EVAL_PREDICTIONS).read_text().splitlines()]
    from tl_core.config import RunConfig
    from tl_core.data import load_task_data

    data = load_task_data("text", RunConfig.from_file(run_dir / rf.CONFIG).data)
    assert [r["id"] for r in rows] == list(data.eval["id"])
    # Evaluation ran in length order; each row must still carry ITS prediction: the saved model, run again on
    # the row's own text, gives the same label and confidence.
    again = Predictor.from_run(run_dir).predict([r["input"] for r in rows], top_k=1)
    assert len({round(r["confidence"], 4) for r in rows}) > 1  # distinct values, so a shuffle would show
    for row, pred in zip(rows, again):
        ((label, prob),) = pred.items()
        assert row["pred"] == label and abs(row["confidence"] - prob) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("precision,expect_bf16", [("bf16", True), ("fp32", False)])
def test_precision_paths_train(precision, expect_bf16, assets, tmp_path, tl_home):  # noqa: F811
    cfg = tiny_config("text", "full", assets, epochs=6, learning_rate=3e-3, precision=precision)
    run_dir = runs.create_run(cfg, run_dir=tmp_path / "run")
    assert train.run(run_dir) == 0
    results = rf.read_json(run_dir / rf.RESULTS)
    assert results["bf16"] is expect_bf16
    losses = [json.loads(line)["loss"] for line in (run_dir / rf.METRICS).read_text().splitlines() if '"train"' in line]
    assert all(x == x for x in losses) and losses[-1] < losses[0]  # finite and falling


# --- length-grouped batches in shuffled order (tl_core/batching.py) ---------------------------------------------------
def _batches(order, size):
    return [order[i : i + size] for i in range(0, len(order), size)]


def test_length_grouped_order_is_a_permutation_of_homogeneous_batches_in_random_order():
    from tl_core.batching import length_grouped_order

    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 120, (1000,), generator=g).tolist()
    order = length_grouped_order(lengths, 16, generator=torch.Generator().manual_seed(1))
    assert sorted(order) == list(range(1000))
    batches = _batches(order, 16)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    random_padded = sum(max(lengths[i] for i in b) * len(b) for b in _batches(list(range(1000)), 16))
    assert padded < 0.75 * random_padded  # the point of grouping: far less padding than random batches
    maxima = [max(lengths[i] for i in b) for b in batches]
    assert maxima[0] == max(lengths)  # the longest batch first: memory errors show at step one
    # transformers keeps each mega-batch sorted longest-first; ours must not walk down the lengths like that
    descents = sum(a >= b for a, b in zip(maxima[1:-1], maxima[2:-1]))
    assert descents < 0.8 * (len(maxima) - 3)
    assert len(batches[-1]) == 1000 % 16  # the short batch stays last (drop_last can still drop it)
    again = length_grouped_order(lengths, 16, generator=torch.Generator().manual_seed(1))
    other = length_grouped_order(lengths, 16, generator=torch.Generator().manual_seed(2))
    assert again == order and other != order  # seeded: reproducible, and a new order for a new seed


def test_length_grouped_order_small_and_empty_inputs():
    from tl_core.batching import length_grouped_order

    assert length_grouped_order([], 8) == []
    assert sorted(length_grouped_order([5, 1, 3], 8)) == [0, 1, 2]  # fewer examples than one batch
    assert sorted(length_grouped_order([2] * 17, 8)) == list(range(17))


def test_trainer_uses_the_shuffled_length_grouped_sampler(tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, TrainingArguments

    from tl_core.batching import ShuffledLengthGroupedSampler, pad_multiple
    from tl_core.training.trainer import RunTrainer

    folder = make_tiny_bert(tmp_path / "bert")
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    ds = Dataset.from_dict({"input_ids": [[1, 2, 3], [1, 2], [4, 5, 6, 7]], "labels": [0, 1, 0]})
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=2,
        use_cpu=True,
        report_to="none",
        remove_unused_columns=False,
    )

    def sampler_of(trainer):  # through the public hook: the DataLoader the training loop gets
        return trainer.get_train_dataloader().batch_sampler.sampler

    grouped = RunTrainer(model=model, args=args, train_dataset=ds, length_grouped=True)
    assert isinstance(sampler_of(grouped), ShuffledLengthGroupedSampler)
    assert sampler_of(grouped).lengths == [3, 2, 4]
    batches = list(grouped.get_train_dataloader().batch_sampler)
    assert sorted(i for b in batches for i in b) == [0, 1, 2] and max(map(len, batches)) == 2  # each once, by 2
    plain = RunTrainer(model=model, args=args, train_dataset=ds)
    assert not isinstance(sampler_of(plain), ShuffledLengthGroupedSampler)
    if not torch.cuda.is_available():
        assert pad_multiple() is None  # CPU: no rounding up to 8, every padded token is computed for nothing


# --- the playground pre-empts CPU training (tl_core/cpu_yield.py) -----------------------------------------------------
def test_yield_flag_requests_expire_and_only_their_owner_releases(tmp_path):
    import time

    from tl_core.cpu_yield import YieldFlag

    flag, other_process = YieldFlag(tmp_path / "cpu_yield"), YieldFlag(tmp_path / "cpu_yield")
    assert flag.until() == 0.0 and flag.wait() < 0.01  # nothing requested: no waiting
    first = flag.request(0.2)
    assert other_process.until() == first  # the file is shared between processes
    t = time.time()
    waited = other_process.wait()
    assert 0.1 < waited < 0.5 and time.time() - t < 0.5  # waits while requested, and the request expires by itself
    a = flag.request(5.0)
    b = other_process.request(6.0)  # a second browser session asks while the first still predicts
    flag.release(a)
    assert other_process.until() == b  # the first one finishing does not cancel the second one's request
    other_process.release(b)
    assert flag.until() == 0.0
    flag.request(3600)  # a stuck or hostile value: each pause point still gives up after MAX_WAIT_S
    import tl_core.cpu_yield as cy

    old, cy.MAX_WAIT_S = cy.MAX_WAIT_S, 0.05
    try:
        assert flag.wait() < 0.3
    finally:
        cy.MAX_WAIT_S = old


def test_pause_points_hold_forward_and_backward_and_leave_results_unchanged(tmp_path):
    import threading
    import time

    from transformers import AutoModelForSequenceClassification

    from tl_core.cpu_yield import YieldFlag, install_pause_points

    model = AutoModelForSequenceClassification.from_pretrained(make_tiny_bert(tmp_path / "bert"), num_labels=2).eval()
    ids = torch.tensor([[2, 5, 6, 7, 3]])
    expected = model(input_ids=ids).logits
    flag = YieldFlag(tmp_path / "cpu_yield")
    handles = install_pause_points(model, flag)
    assert handles
    out = model(input_ids=ids).logits
    assert torch.equal(out, expected)  # hooks change nothing
    out.sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    def timed(fn) -> float:
        token = flag.request(0.3)
        t = time.time()
        fn()
        flag.release(token)
        return time.time() - t

    assert timed(lambda: model(input_ids=ids)) > 0.25  # forward waits at its first pause point
    model.zero_grad()
    loss = model(input_ids=ids).logits.sum()
    assert timed(loss.backward) > 0.25  # ... and so does backward
    assert all(torch.equal(p.grad, grads[n]) for n, p in model.named_parameters() if n in grads)
    done = threading.Event()
    token = flag.request(5.0)
    threading.Thread(target=lambda: (model(input_ids=ids), done.set()), daemon=True).start()
    assert not done.wait(0.2)  # held while the request is on...
    flag.release(token)
    assert done.wait(2.0)  # ... and released the moment it is withdrawn
    for h in handles:
        h.remove()


@pytest.mark.slow
def test_looping_predictions_cannot_stall_training_beyond_its_share(tmp_path):
    """Two clients looping predictions keep a pause request on all the time. A simulated training loop (100 pause
    points a step) still pauses at most once a step and at most max_share of any window (window shortened to 1 s
    to keep the test fast; the real one is 10 s)."""
    import threading
    import time

    from tl_core.cpu_yield import YieldFlag

    flag = YieldFlag(tmp_path / "cpu_yield", max_share=0.2, window_s=1.0)
    stop = threading.Event()

    def client() -> None:
        playground = YieldFlag(tmp_path / "cpu_yield")  # another session's view of the shared file
        while not stop.is_set():
            with playground.priority():
                time.sleep(0.01)  # one prediction

    clients = [threading.Thread(target=client, daemon=True) for _ in range(2)]
    for c in clients:
        c.start()
    time.sleep(0.05)
    paused, pauses_per_step, t0 = 0.0, [], time.time()
    try:
        while time.time() - t0 < 4.0:
            flag.new_step()
            waits = [flag.wait() for _ in range(100)]  # the step's pause points, between its (tiny) layers
            paused += sum(waits)
            pauses_per_step.append(sum(w > 0 for w in waits))
    finally:
        stop.set()
        for c in clients:
            c.join()
    share = paused / (time.time() - t0)
    assert max(pauses_per_step) == 1  # at most one pause per step
    assert 0.1 < share <= 0.2 + 0.03  # predictions still pre-empt training, but only for their share


def test_pause_points_pause_once_per_forward(tmp_path):
    import time

    import tl_core.cpu_yield as cy
    from tl_core.cpu_yield import YieldFlag, install_pause_points

    model = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(20)])  # 20 leaves: 40 pause points a step
    flag = YieldFlag(tmp_path / "cpu_yield")
    install_pause_points(model, flag)
    x = torch.randn(2, 4)
    flag.request(60)
    old, cy.MAX_WAIT_S = cy.MAX_WAIT_S, 0.05
    try:
        t = time.time()
        model(x).sum().backward()  # a training step: forward and backward
        took = time.time() - t
        t = time.time()
        model(x).sum().backward()  # the next step pauses again
        again = time.time() - t
    finally:
        cy.MAX_WAIT_S = old
    assert 0.04 < took < 0.5 and 0.04 < again < 0.5  # one 0.05 s pause each, not 40 of them (2 s)


@pytest.mark.slow
def test_playground_predictions_request_priority_and_runs_honour_it(assets, tmp_path, tl_home):  # noqa: F811
    from tl_core import dashboard as dash
    from tl_core.cpu_yield import YieldFlag

    run_dir = runs.create_run(tiny_config("text", "full", assets, epochs=1), run_dir=tmp_path / "run")
    assert train.run(run_dir) == 0  # trains with pause points and callback pause points installed
    seen = []
    pred = dash.predictor_for(run_dir)
    flag = YieldFlag.default()
    original = pred._predictor.predict
    pred._predictor.predict = lambda *a, **k: (seen.append(flag.until()), original(*a, **k))[1]
    out = pred.predict("a fine film")
    assert isinstance(out, dict) and out  # same answer shape as the bare Predictor
    assert seen and seen[0] > 0  # a pause request was on while the model ran
    assert flag.until() == 0.0  # and withdrawn afterwards
    assert pred.config.task == "text"  # everything else passes through


@pytest.mark.slow
def test_profile_steps_writes_a_profile_of_the_real_loop(assets, tmp_path, tl_home):  # noqa: F811
    cfg = tiny_config("text", "full", assets, max_steps=14, profile_steps=2)
    run_dir = runs.create_run(cfg, run_dir=tmp_path / "run")
    assert train.run(run_dir) == 0
    text = (run_dir / "profile.txt").read_text()
    assert text.startswith("torch.profiler over 2 training steps") and "aten::" in text
