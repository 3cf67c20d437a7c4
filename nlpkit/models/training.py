"""The training loop every model shares: optimizer, clipping, early stopping, progress.

A model gives ``step(batch) -> (loss_sum, n_items, n_correct)`` that runs the
forward and backward pass of one batch (gradients are zeroed before and the
optimizer steps after, here), and optionally ``validate() -> loss`` (or
``(loss, accuracy)``) for early stopping.  The loop stops with a clear message when the loss turns NaN/inf.

Training can be bounded in time (``max_time`` seconds: the epoch under way is
cut short, validated, and the best weights so far are kept) and the learning
rate can follow a cosine decay over the budget, whichever of epochs or time
runs out first.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from ..errors import NlpkitError
from ..nn import SGD, Adam, AdamW, clip_grad_norm

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")


def make_optimizer(name, net, lr):
    if not isinstance(lr, (int, float)) or not lr > 0:
        raise NlpkitError(f"lr must be a positive number; got {lr!r}")
    if name == "adam":
        return Adam(net, lr=lr)
    if name == "adamw":
        return AdamW(net, lr=lr)
    if name == "sgd":
        return SGD(net, lr=lr, momentum=0.9)
    raise NlpkitError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}")


class EarlyStopping:
    """Keeps the weights with the best validation figure (lowest loss, or highest
    accuracy when the model reports one); says when to stop."""

    def __init__(self, patience, tol=1e-4):
        if not isinstance(patience, (int, np.integer)) or patience < 1:
            raise NlpkitError(f"n_iter_no_change must be a positive integer; got {patience!r}")
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
):
    """Run up to ``max_epochs`` epochs (and at most ``max_time`` seconds);
    ``batches()`` gives one epoch's batches.

    ``lr_schedule='cosine'`` decays the optimizer's lr from its value to 0 along
    a half cosine of the progress, the larger of the fraction of epochs done and
    the fraction of ``max_time`` used; the lr is set back when training ends.

    ``callback(info)`` is called with ``{"event": "batch", "epoch", "items"}``
    after every batch and ``{"event": "epoch", "epoch", "loss", "accuracy",
    "val_loss", "val_accuracy" (when validate gives it)}`` after every epoch.  Returns the list of epoch records.
    """
    if not isinstance(max_epochs, (int, np.integer)) or max_epochs < 1:
        raise NlpkitError(f"max_epochs must be a positive integer; got {max_epochs!r}")
    if clip is not None and not clip > 0:
        raise NlpkitError(f"clip must be a positive number or None; got {clip!r}")
    if max_time is not None and not (isinstance(max_time, (int, float)) and max_time > 0):
        raise NlpkitError(
            f"max_time must be a positive number of seconds or None; got {max_time!r}"
        )
    if lr_schedule not in SCHEDULES:
        raise NlpkitError(
            f"lr_schedule must be one of {', '.join(SCHEDULES)}; got {lr_schedule!r}"
        )
    stopper = EarlyStopping(patience) if validate is not None else None
    history = []
    base_lr = optimizer.lr
    start = time.perf_counter()
    out_of_time = False
    try:
        for epoch in range(1, max_epochs + 1):
            t0 = time.perf_counter()
            net.train()
            total = count = correct = 0
            epoch_batches = list(batches())
            for i, batch in enumerate(epoch_batches):
                if lr_schedule == "cosine":
                    done = (epoch - 1 + i / max(len(epoch_batches), 1)) / max_epochs
                    if max_time is not None:
                        done = max(done, (time.perf_counter() - start) / max_time)
                    optimizer.lr = base_lr * 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))
                net.zero_grad()
                loss_sum, n, good = step(batch)
                check_loss(loss_sum, where)
                if clip:
                    clip_grad_norm(net, clip)
                optimizer.step()
                total, count, correct = total + loss_sum, count + n, correct + good
                if callback is not None:
                    callback({"event": "batch", "epoch": epoch, "items": n})
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
            if stopper is not None and stopper.update(record, net):
                break
            if out_of_time:
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
