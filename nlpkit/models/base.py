"""What the neural estimators share: seeds, threads, devices, pretrained vectors, and the
fit glue (validation split, batching, the training loop) in :class:`NeuralEstimator`."""

from __future__ import annotations

import contextlib
import os

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from .. import backend
from ..errors import NlpkitError
from ..params import (
    BOOLEAN,
    DEVICE,
    FRACTION,
    N_JOBS,
    NONNEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    RANDOM_STATE,
    HasMethods,
    Options,
)
from . import data
from .training import OPTIMIZERS, SCHEDULES, make_optimizer, train


def seed_from(random_state) -> int:
    """An int seed from sklearn's ``random_state`` (None, int or RandomState)."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextlib.contextmanager
def compute(n_jobs, device, model):
    """Threads for the kernels (BLAS on one), and ``model.net_`` (with
    ``model._optimizer``) on ``device`` for the block.

    On 'cuda' the network and the optimizer's state go to the GPU once, for the
    whole block, and come back to the host after it: between calls an estimator
    holds a plain host network (it pickles, loads and predicts on the CPU)."""
    device = backend.resolve_device(device)
    # one BLAS thread: see backend.blas_threads (Numba's kernels still get n_jobs threads)
    with backend.threads(n_jobs), backend.blas_threads(1):
        if device == "cpu":
            yield device
            return
        _place(model, "cuda")
        try:
            yield device
        finally:
            _place(model, "cpu")


def _place(model, device):
    """Move the network's parameters; the optimizer's state follows them."""
    model.net_.to(device)
    optimizer = getattr(model, "_optimizer", None)
    if optimizer is not None:
        optimizer.to(device)


# The parameters every neural estimator has, declared once (see nlpkit.params); each
# estimator adds its own to these.
TOKENIZER = [None, "path", HasMethods("encode_batch", name="a fitted BPE or WordPiece")]
# words given as vectors: KeyedVectors, a dict word -> vector or a vectors file (or, for a
# classifier or a tagger, a language model's file)
PRETRAINED = [None, "path", HasMethods("get", "values", name="a dict word -> vector"),
              HasMethods("get_vector", name="KeyedVectors")]
SHARED_CONSTRAINTS = {
    "embedding_dim": POSITIVE_INT, "hidden_size": POSITIVE_INT, "num_layers": POSITIVE_INT,
    "dropout": FRACTION, "tokenizer": TOKENIZER,
    "max_epochs": POSITIVE_INT, "batch_size": POSITIVE_INT, "lr": POSITIVE,
    "optimizer": [Options(*OPTIMIZERS)], "clip": [None, *POSITIVE],
    "early_stopping": BOOLEAN, "validation_fraction": FRACTION,
    "n_iter_no_change": POSITIVE_INT, "max_time": [None, *POSITIVE],
    "lr_schedule": [Options(*SCHEDULES)], "warmup_steps": NONNEGATIVE_INT,
    "random_state": RANDOM_STATE, "n_jobs": N_JOBS, "device": DEVICE,
    "verbose": [*NONNEGATIVE_INT, "boolean"],
}


def resolve_pretrained(pretrained):
    """``(lookup(word) -> vector or None, dim)`` from KeyedVectors, a dict or a vectors file."""
    if pretrained is None:
        return None, None
    if isinstance(pretrained, (str, os.PathLike)):
        from ..embed.formats import load

        pretrained = load(pretrained)
    if hasattr(pretrained, "key_to_index") and hasattr(pretrained, "vectors"):
        index, vectors = pretrained.key_to_index, np.asarray(pretrained.vectors)

        def lookup(word):
            i = index.get(word)
            return None if i is None else vectors[i]

        return lookup, int(vectors.shape[1])
    if hasattr(pretrained, "get") and hasattr(pretrained, "__len__") and len(pretrained):
        first = np.asarray(next(iter(pretrained.values())))
        return (lambda w: pretrained.get(w)), int(first.shape[-1])
    raise NlpkitError(
        "pretrained must be KeyedVectors (with .key_to_index and .vectors), "
        f"a non-empty dict word -> vector, or a vectors file path; got {type(pretrained).__name__}"
    )


def init_embedding(embedding, vocab, lookup):
    """Copy pretrained vectors into the rows of the words they know; return how many."""
    found = 0
    for i, word in enumerate(vocab.itos):
        if i == 0:  # <pad> stays zero
            continue
        v = lookup(word)
        if v is not None:
            embedding.weight.data[i] = v
            found += 1
    return found


# ------------------------------------------------------------------ the fit glue
_EVAL_BATCH = 128


class NeuralEstimator(BaseEstimator):
    """What every neural estimator's ``fit`` does around its network.

    A subclass builds ``self.net_`` and calls :meth:`_start_training`, then
    :meth:`_fit_loop` with its own ``step(rows)`` (forward + backward of one
    batch of document indices) and ``val_batch(rows) -> (loss_sum, n_items)``.
    Parameters it reads: batch_size, max_epochs, lr, optimizer, clip,
    early_stopping, validation_fraction, n_iter_no_change, max_time,
    lr_schedule, warmup_steps, verbose.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # X is text, not a feature matrix
        tags.input_tags.string = True
        return tags

    # ------------------------------------------------------------ model files
    # The fitted attributes a model file holds besides the network, each with the types it
    # may have when read back and whether it must be there (see nlpkit.models.io).
    _fitted = {"history_": ((list,), True), "n_epochs_": ((int,), True)}

    def _make_net(self, rng):  # pragma: no cover - every estimator has one
        raise NotImplementedError

    def _net_sizes(self):
        """``(sizes, counts)``: the parameters and fitted values that size the network
        (name -> value), checked against the stored weights before it is built."""
        return ({f"params.{n}": getattr(self, n) for n in ("embedding_dim", "hidden_size")},
                {"params.num_layers": self.num_layers})

    def _square_size(self):
        """The name (in :meth:`_net_sizes`) of a size the network has a square matrix of (a
        recurrent cell's hidden size), or None."""
        return None

    def _to_state(self):
        """``(model.json's content, {name: array})``: the parameters, the fitted attributes
        and the network's state dict (PyTorch's names)."""
        from sklearn.utils.validation import check_is_fitted

        from .io import encode, encode_fitted, encode_params

        check_is_fitted(self, "net_")
        config = {"params": encode_params(self), "fitted": encode_fitted(self, self._fitted)}
        arrays = dict(self.net_.state_dict())
        state = getattr(self, "checkpoint_state_", None)
        if state is not None:  # a checkpoint (see checkpoint_to): the training state too
            config["checkpoint"] = state
            # mid-fit, the attributes a fit sets at its end are not there yet
            config["fitted"].setdefault("n_epochs_", int(state["epoch"]))
            config["fitted"].setdefault("history_", encode(list(state["history"]), "history"))
            arrays.update({_CHECKPOINT + k: v for k, v in self.checkpoint_arrays_.items()})
        return config, arrays

    @classmethod
    def _from_state(cls, fields, arrays):
        """The fitted estimator of a model file (see :meth:`_to_state`): parameters, fitted
        attributes, then the network built from them with the stored weights loaded.  The
        optimizer starts afresh (a later ``partial_fit`` resets Adam's moments)."""
        from .io import check_sizes, decode_fitted, decode_params

        est = cls(**decode_params(cls, fields.obj("params")))
        fitted = fields.obj("fitted")
        decode_fitted(est, fitted, cls._fitted)
        checkpoint = _read_checkpoint(fields, arrays)  # takes its arrays out of ``arrays``
        sizes, counts = est._net_sizes()
        check_sizes(fields, arrays, sizes, counts, est._square_size())
        est._rng = np.random.default_rng(seed_from(est.random_state))
        net = est._make_net(est._rng)
        net.load_state_dict(arrays)
        net.eval()
        history = est.history_
        est._start_training(net)
        est.history_ = history
        est._restored()
        if checkpoint is not None:
            est.checkpoint_state_, est.checkpoint_arrays_ = checkpoint
        return est

    def _restored(self):
        """What a loaded estimator derives from its attributes (a hook)."""

    def checkpoint_to(self, save=None, resume=None):
        """Checkpoints for the next :meth:`fit`.

        ``save(model)`` is called after every epoch with this estimator holding, besides its
        network, the training state in ``checkpoint_state_`` (JSON-able: epoch, steps,
        history, random generators' states, early stopping's figures) and
        ``checkpoint_arrays_`` (name -> array: the optimizer's moments, the best weights so
        far); both are dropped when the fit ends.  ``resume``: an estimator saved so (read
        back with :func:`~nlpkit.models.io.load_model`); the fit continues after its last
        epoch and, given the same data and parameters (``max_epochs`` may grow), ends with
        the model a fit that was never stopped gives.
        """
        self._checkpointing = (save, resume)
        return self

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_checkpointing", None)  # (a callable: not part of the model)
        return state

    def _start_training(self, net):
        """A fresh network: its optimizer, an empty history."""
        self.net_ = net
        self._optimizer = make_optimizer(self.optimizer, net, self.lr)
        self.history_ = []

    def _holdout(self, n, min_train=1):
        """``(train_idx, val_idx)``: a random ``validation_fraction`` held out for early
        stopping, or ``(all, None)`` when early stopping is off or there is too little data."""
        idx = np.arange(n)
        frac = float(self.validation_fraction)
        n_val = int(np.ceil(n * frac))
        if not self.early_stopping or frac == 0 or n - n_val < min_train:
            return idx, None
        perm = self._rng.permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def _fit_loop(
        self,
        lengths,
        train_idx,
        val_idx,
        step,
        val_batch=None,
        validate=None,
        epochs=None,
        callback=None,
    ):
        """Train ``self.net_`` on length-sorted batches of ``train_idx``; early stopping
        on ``val_idx`` (``validate()`` or the mean of ``val_batch`` over it)."""
        lengths = np.asarray(lengths)

        def batches():
            order = data.length_sorted_batches(lengths[train_idx], self.batch_size, self._rng)
            return [train_idx[b] for b in order]

        if validate is None and val_idx is not None and val_batch is not None:

            def validate():
                # val_batch gives (loss_sum, weight_sum) or (loss_sum, weight_sum,
                # n_correct, n_items); with the counts, early stopping follows accuracy
                sums = None
                for b in data.length_sorted_batches(lengths[val_idx], _EVAL_BATCH):
                    part = np.asarray(val_batch(val_idx[b]), np.float64)
                    sums = part if sums is None else sums + part
                loss = sums[0] / sums[1]
                return loss if len(sums) == 2 else (loss, sums[2] / sums[3])

        save, resume = getattr(self, "_checkpointing", (None, None))
        self._checkpointing = (None, None)  # for this fit only
        state = None if resume is None else self._restore(resume)

        def on_epoch(loop):
            self._keep_state(loop)
            try:
                save(self)
            finally:
                del self.checkpoint_state_, self.checkpoint_arrays_

        self.history_ += train(
            self.net_,
            self._optimizer,
            batches,
            step,
            self.max_epochs if epochs is None else epochs,
            clip=self.clip,
            validate=validate if val_idx is not None else None,
            patience=self.n_iter_no_change,
            callback=callback,
            verbose=self.verbose,
            where=type(self).__name__,
            max_time=self.max_time,
            lr_schedule=self.lr_schedule,
            warmup_steps=self.warmup_steps,
            resume=state,
            on_epoch=None if save is None else on_epoch,
        )
        self.n_epochs_ = len(self.history_)

    def _generators(self):
        """The random generators training draws from (batches, dropout, word dropout),
        in a fixed order and each once."""
        found, seen = [self._rng], {id(self._rng)}
        for module in self.net_.modules():
            for value in vars(module).values():
                if isinstance(value, np.random.Generator) and id(value) not in seen:
                    found.append(value)
                    seen.add(id(value))
        return found

    def _keep_state(self, loop):
        """The training state as ``checkpoint_state_`` and ``checkpoint_arrays_``."""
        opt = self._optimizer
        arrays = {f"optimizer.{i}.{key}": np.array(backend.to_host(value), copy=True)
                  for i, state in enumerate(opt.state) for key, value in state.items()}
        for name, value in (loop["best_state"] or {}).items():
            arrays[f"best.{name}"] = value
        self.checkpoint_state_ = {
            "epoch": loop["epoch"], "n_steps": loop["n_steps"], "finished": loop["finished"],
            "stopper": loop["stopper"], "has_best": loop["best_state"] is not None,
            "optimizer_steps": opt.step_count, "history": self.history_ + loop["history"],
            "generators": [g.bit_generator.state for g in self._generators()],
        }
        self.checkpoint_arrays_ = arrays

    def _restore(self, resume):
        """Put ``resume``'s training state into this fit (after it built its network and
        split its data as the stopped fit did); the loop state for :func:`train`."""
        name = type(self).__name__
        state = getattr(resume, "checkpoint_state_", None)
        arrays = getattr(resume, "checkpoint_arrays_", None)
        if type(resume) is not type(self) or state is None or arrays is None:
            raise NlpkitError(f"{name}: the model to resume from is not a {name} checkpoint")
        differ = [k for k, v in self.get_params().items()
                  if k not in ("max_epochs", "max_time", "verbose", "n_jobs", "device")
                  and repr(resume.get_params().get(k)) != repr(v)]
        if differ:
            raise NlpkitError(f"{name}: the checkpoint was trained with other parameters "
                              f"({', '.join(differ)}); resume with the same ones")
        self.net_.load_state_dict(resume.net_.state_dict())
        opt = self._optimizer
        opt.step_count = int(state["optimizer_steps"])
        for i, slot in enumerate(opt.state):
            prefix = f"optimizer.{i}."
            slot.clear()
            slot.update({k[len(prefix):]: v.copy() for k, v in arrays.items()
                         if k.startswith(prefix)})
        generators = self._generators()
        if len(generators) != len(state["generators"]):
            raise NlpkitError(f"{name}: the checkpoint does not fit this network")
        for g, g_state in zip(generators, state["generators"]):
            try:
                g.bit_generator.state = g_state
            except (ValueError, TypeError, KeyError, OverflowError):
                raise NlpkitError(f"{name}: the checkpoint's random generator states are "
                                  "damaged") from None
        self.history_ = list(state["history"])
        best = {k[5:]: v for k, v in arrays.items() if k.startswith("best.")}
        return {**state, "best_state": best if state["has_best"] else None}


# a checkpoint's arrays sit beside the network's weights under this prefix (no PyTorch name
# starts so); its JSON-able state is model.json's "checkpoint"
_CHECKPOINT = "checkpoint."


def _read_checkpoint(fields, arrays):
    """``(checkpoint_state_, checkpoint_arrays_)`` of a model file that is a checkpoint,
    else None; the fields :meth:`NeuralEstimator._restore` reads are type-checked here."""
    ck_arrays = {k[len(_CHECKPOINT):]: arrays.pop(k) for k in
                 [k for k in arrays if k.startswith(_CHECKPOINT)]}
    if "checkpoint" not in fields:
        return None
    ck = fields.obj("checkpoint")
    for name in ("epoch", "n_steps", "optimizer_steps"):
        ck.int(name, lo=0)
    for name in ("finished", "has_best"):
        ck.bool(name)
    ck.list("history", item=lambda r: isinstance(r, dict), what="a list of objects")
    ck.list("generators", item=lambda g: isinstance(g, dict), what="a list of objects")
    stopper = ck.obj("stopper", default=None)
    if stopper is not None:
        stopper.float("best", default=None)
        stopper.int("bad", lo=0)
    return dict(ck.data), ck_arrays
