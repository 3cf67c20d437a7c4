"""The training loop every model shares: optimizer, clipping, early stopping, progress.

A model gives ``step(batch) -> (loss_sum, n_items, n_correct)`` that runs the
forward and backward pass of one batch (gradients are zeroed before and the
optimizer steps after, here), and optionally ``validate() -> loss`` (or
``(loss, accuracy)``) for early stopping.  The loop stops with a clear message when the loss turns NaN/inf.

Training can be bounded in time (``max_time`` seconds: the epoch under way is
cut short, validated, and the best weights so far are kept).  The learning rate
follows ``lr_schedule`` (:func:`lr_factor`): constant, a cosine or linear decay to 0
over the budget (whichever of epochs or time runs out first), or the inverse square
root of the step (the Transformer's "Noam" schedule, as fairseq's ``inverse_sqrt``),
after a linear warm-up over ``warmup_steps`` optimizer steps.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from ..errors import NlpkitError
from ..nn import SGD, Adam, AdamW, clip_grad_norm

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "linear", "inverse_sqrt")


def lr_factor(schedule, step, warmup_steps, done):
    """The multiple of the base learning rate at optimizer step ``step`` (1, 2, …) with
    ``done`` (0-1) of the budget used:

    * a linear warm-up from 0: ``step / warmup_steps`` while ``step < warmup_steps``, then
    * 'constant': 1; 'cosine': ``(1 + cos(pi * done)) / 2``; 'linear': ``1 - done``
      (BERT's fine-tuning schedule with a warm-up);
    * 'inverse_sqrt': ``sqrt(warmup_steps / step)`` (``1 / sqrt(step)`` without a warm-up):
      Vaswani et al.'s ``d^-0.5 min(step^-0.5, step warmup^-1.5)`` with the base rate as its
      peak (fairseq's ``inverse_sqrt``)."""
    warm = min(1.0, step / warmup_steps) if warmup_steps else 1.0
    if schedule == "inverse_sqrt":
        return warm if step < warmup_steps else math.sqrt(max(warmup_steps, 1) / step)
    done = min(done, 1.0)
    if schedule == "cosine":
        return warm * 0.5 * (1.0 + math.cos(math.pi * done))
    if schedule == "linear":
        return warm * (1.0 - done)
    return warm


def make_optimizer(name, net, lr):
    """The optimizer ``name`` (one of OPTIMIZERS; the estimator's parameter contract has
    checked it and ``lr``)."""
    if name == "sgd":
        return SGD(net, lr=lr, momentum=0.9)
    return (AdamW if name == "adamw" else Adam)(net, lr=lr)


class EarlyStopping:
    """Keeps the weights with the best validation figure (lowest loss, or highest
    accuracy when the model reports one); says when to stop."""

    def __init__(self, patience, tol=1e-4):
        self.patience, self.tol = int(patience), tol
        self.best, self.best_state, self.bad = math.inf, None, 0

    def update(self, record, net) -> bool:
        # accuracy, when there is one, as scikit-learn's MLPClassifier stops on its
        # validation score: the loss keeps rising with confident errors while the
        # accuracy still improves
        value = -record["val_accuracy"] if "val_accuracy" in record else record["val_loss"]
        if value < self.best - self.tol:
            self.best, self.best_state, self.bad = value, net.state_dict(), 0
        else:
            self.bad += 1
        return self.bad >= self.patience

    def restore(self, net):
        if self.best_state is not None:
            net.load_state_dict(self.best_state)


def check_loss(loss, where):
    if not math.isfinite(loss):
        raise NlpkitError(
            f"{where}: the training loss became {loss} (NaN or inf); lower lr or set clip"
        )
    return loss


def train(
    net,
    optimizer,
    batches,
    step,
    max_epochs,
    clip=None,
    validate=None,
    patience=3,
    callback=None,
    verbose=0,
    where="fit",
    max_time=None,
    lr_schedule="constant",
    warmup_steps=0,
    resume=None,
    on_epoch=None,
):
    """Run up to ``max_epochs`` epochs (and at most ``max_time`` seconds);
    ``batches()`` gives one epoch's batches.

    The optimizer's lr is its value times :func:`lr_factor` at every step, the progress
    being the larger of the fraction of epochs done and the fraction of ``max_time``
    used; the lr is set back when training ends.

    ``callback(info)`` is called with ``{"event": "batch", "epoch", "items", "loss"}``
    (``loss``: the batch's mean loss, for a training curve finer than the epochs)
    after every batch and ``{"event": "epoch", "epoch", "loss", "accuracy",
    "val_loss", "val_accuracy" (when validate gives it)}`` after every epoch.  Returns the list of epoch records.

    ``on_epoch(state)`` is called at the end of every epoch with the loop's own state (the
    epoch, the step count, early stopping's; JSON-able but for ``best_state``, the best
    weights) and ``resume`` takes such a state to continue after its epoch: with the
    network, optimizer and random generators as they were then, the rest of the run is the
    one that was stopped.

    The arguments are an estimator's parameters, checked by its contract
    (:func:`nlpkit.params.validate_params`) before it trains.
    """
    stopper = EarlyStopping(patience) if validate is not None else None
    n_steps, first = 0, 1
    if resume is not None:
        n_steps, first = int(resume["n_steps"]), int(resume["epoch"]) + 1
        if resume.get("finished"):
            first = max_epochs + 1
        if stopper is not None and resume.get("stopper") is not None:
            best = resume["stopper"]["best"]
            stopper.best = math.inf if best is None else float(best)
            stopper.bad = int(resume["stopper"]["bad"])
            stopper.best_state = resume.get("best_state")
    history = []
    base_lr = optimizer.lr
    start = time.perf_counter()
    out_of_time = False
    try:
        for epoch in range(first, max_epochs + 1):
            t0 = time.perf_counter()
            net.train()
            total = count = correct = 0
            epoch_batches = list(batches())
            for i, batch in enumerate(epoch_batches):
                n_steps += 1
                if lr_schedule != "constant" or warmup_steps:
                    done = (epoch - 1 + i / max(len(epoch_batches), 1)) / max_epochs
                    if max_time is not None:
                        done = max(done, (time.perf_counter() - start) / max_time)
                    optimizer.lr = base_lr * lr_factor(lr_schedule, n_steps, warmup_steps, done)
                net.zero_grad()
                loss_sum, n, good = step(batch)
                check_loss(loss_sum, where)
                if clip:
                    clip_grad_norm(net, clip)
                optimizer.step()
                total, count, correct = total + loss_sum, count + n, correct + good
                if callback is not None:
                    callback({"event": "batch", "epoch": epoch, "items": n,
                              "loss": loss_sum / max(n, 1)})
                if max_time is not None and time.perf_counter() - start >= max_time:
                    out_of_time = True
                    break
            net.eval()
            record = {
                "event": "epoch",
                "epoch": epoch,
                "loss": total / max(count, 1),
                "accuracy": correct / max(count, 1),
                "seconds": time.perf_counter() - t0,
            }
            if out_of_time:
                record["stopped"] = "max_time"
            if validate is not None:
                result = validate()
                loss, acc = result if isinstance(result, tuple) else (result, None)
                record["val_loss"] = check_loss(loss, where + " (validation)")
                if acc is not None:
                    record["val_accuracy"] = acc
            history.append(record)
            if callback is not None:
                callback(record)
            if verbose:
                print(format_record(record), file=sys.stderr, flush=True)
            stop = stopper is not None and stopper.update(record, net)
            if on_epoch is not None:
                on_epoch({
                    "epoch": epoch, "n_steps": n_steps, "history": list(history),
                    "finished": bool(stop or out_of_time),
                    "stopper": None if stopper is None else {
                        "best": stopper.best if math.isfinite(stopper.best) else None,
                        "bad": stopper.bad},
                    "best_state": None if stopper is None else stopper.best_state,
                })
            if stop or out_of_time:
                break
    finally:
        optimizer.lr = base_lr
    if stopper is not None:
        stopper.restore(net)
    net.eval()
    return history


def format_record(r):
    text = f"epoch {r['epoch']}: loss {r['loss']:.4f}, accuracy {r['accuracy']:.4f}"
    if "val_loss" in r:
        text += f", val_loss {r['val_loss']:.4f}"
    if "val_accuracy" in r:
        text += f", val_accuracy {r['val_accuracy']:.4f}"
    text += f" ({r['seconds']:.1f} s)"
    return text + (" [stopped: time limit]" if r.get("stopped") else "")


def count_hits(logits, targets):
    """How many rows' arg max over the last axis equals the (host) target (an int back;
    targets no class can equal, an ``ignore_index`` < 0, never count)."""
    return int(np.count_nonzero(logits.argmax(-1).numpy() == np.asarray(targets)))


def softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z
