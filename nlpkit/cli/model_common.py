"""What the neural model groups (classify, tag, lm, seq2seq) share: the training options,
fit with per-epoch progress bars then save, and reading inputs from arguments or a file."""

from __future__ import annotations

import math
import os

import click

from .common import echo, settings


def training_options(
    epochs=10,
    embedding_dim=100,
    hidden_size=128,
    dropout=0.2,
    batch_size=32,
    lr=1e-3,
    validation_fraction=0.1,
    num_layers=True,
    min_hidden=1,
    batch_help=None,
):
    """The options every ``train`` command has, with the command's defaults; the command
    gets them as keyword arguments and hands them to :func:`estimator_params`."""
    options = [
        click.option(
            "--epochs",
            type=click.IntRange(min=1),
            default=epochs,
            show_default=True,
            help="Maximum epochs.",
        ),
        click.option(
            "--embedding-dim", type=click.IntRange(min=1), default=embedding_dim, show_default=True
        ),
        click.option(
            "--hidden-size",
            type=click.IntRange(min=min_hidden),
            default=hidden_size,
            show_default=True,
        ),
    ]
    if num_layers:
        options.append(
            click.option("--num-layers", type=click.IntRange(min=1), default=1, show_default=True)
        )
    options += [
        click.option(
            "--dropout",
            type=click.FloatRange(0, 1, max_open=True),
            default=dropout,
            show_default=True,
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=batch_size,
            show_default=True,
            help=batch_help,
        ),
        click.option("--lr", type=float, default=lr, show_default=True, help="Learning rate."),
        click.option(
            "--lr-schedule",
            type=click.Choice(["constant", "cosine", "linear", "inverse_sqrt"]),
            default="constant",
            show_default=True,
            help="cosine, linear: decay the learning rate to 0 over the epochs (or "
            "--max-time); inverse_sqrt: the Transformer's (peak --lr after the warm-up).",
        ),
        click.option(
            "--warmup-steps",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Batches of linear learning-rate warm-up from 0.",
        ),
        click.option(
            "--validation-fraction",
            type=click.FloatRange(0, 1, max_open=True),
            default=validation_fraction,
            show_default=True,
            help="Held out for early stopping (0: no early stopping).",
        ),
        click.option(
            "--max-time",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            metavar="SECONDS",
            help="Stop training after this long; the best weights by validation are kept.",
        ),
        click.option(
            "--optimizer",
            type=click.Choice(["adam", "adamw", "sgd"]),
            default=None,
            help="[default: the model's: adamw for lm --objective mlm, else adam]",
        ),
        click.option(
            "--clip",
            type=click.FloatRange(min=0),
            default=None,
            metavar="NORM",
            help="Clip the gradients' global norm to this (0: no clipping) [default: the "
            "model's: 5 for classify and tag, else 1].",
        ),
        click.option(
            "--patience",
            type=click.IntRange(min=1),
            default=None,
            help="Epochs without validation improvement before stopping [default: the "
            "model's: 2 for lm --objective clm, else 3].",
        ),
        click.option(
            "--tokenizer",
            default=None,
            metavar="TOKENIZER_JSON",
            help="Split the text into the subword tokens of this tokenizer.json (from "
            "'nlpkit subword train') instead of whitespace words; the model file keeps it.",
        ),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option(
            "--plot",
            default=None,
            metavar="PNG",
            help="Draw the training curves (needs matplotlib).",
        ),
        click.option(
            "--checkpoint",
            default=None,
            metavar="FILE",
            help="Write the model with its training state here after every epoch.",
        ),
        click.option(
            "--resume",
            is_flag=True,
            help="Continue from --checkpoint FILE (same data and options; --epochs may grow).",
        ),
    ]

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def estimator_params(opts):
    """Estimator keyword arguments from the options of :func:`training_options`
    (``plot``, ``checkpoint`` and ``resume`` are left out: :func:`fit_and_save` takes them)."""
    vf = opts["validation_fraction"]
    params = {
        "max_epochs": opts["epochs"],
        "embedding_dim": opts["embedding_dim"],
        "hidden_size": opts["hidden_size"],
        "dropout": opts["dropout"],
        "batch_size": opts["batch_size"],
        "lr": opts["lr"],
        "lr_schedule": opts["lr_schedule"],
        "warmup_steps": opts["warmup_steps"],
        "early_stopping": vf > 0,
        "validation_fraction": vf,
        "max_time": opts["max_time"],
        "random_state": opts["seed"],
        "n_jobs": settings().threads,
        "device": settings().device,
    }
    if "num_layers" in opts:
        params["num_layers"] = opts["num_layers"]
    # left out when not given: the estimator's own default stands (they differ by model)
    for option, param in (("optimizer", "optimizer"), ("patience", "n_iter_no_change"),
                          ("tokenizer", "tokenizer")):
        if opts.get(option) is not None:
            params[param] = opts[option]
    if opts.get("clip") is not None:
        params["clip"] = opts["clip"] or None  # 0: no clipping
    return params


def encoder_input_options(pretrained_help):
    """``--pretrained``, ``--freeze-layers`` and ``--positions``: where the words' vectors
    and the encoder of a classifier or a tagger come from."""

    def decorate(f):
        positions = click.Choice(["sinusoidal", "learned", "rope", "alibi"])
        f = click.option("--positions", type=positions, default="sinusoidal", show_default=True,
                         help="Positions of the transformer encoder.")(f)
        f = click.option("--freeze-layers", type=click.IntRange(min=0), default=None,
                         help="With a pretrained model file: keep its embeddings and first N "
                         "encoder layers.")(f)
        return click.option("--pretrained", default=None, help=pretrained_help)(f)

    return decorate


def fit_and_save(model, output, X, y=None, *, n_items, unit, common, describe=None):
    """Fit ``model`` with a progress bar per epoch over about ``n_items`` training items
    (the validation share left out), write it to ``output``, and draw ``common["plot"]`` if
    asked.  With ``common["checkpoint"]``, the model and its training state are written
    there after every epoch; ``common["resume"]`` continues from that file.  (``common``:
    the options of :func:`training_options`.)"""
    plot, checkpoint, resume = common["plot"], common["checkpoint"], common["resume"]
    from ..errors import NlpkitError
    from ..models.io import load_model, save_model
    from .report import EpochProgress, plot_history

    if resume and checkpoint is None:
        raise NlpkitError("--resume needs --checkpoint FILE (the file to continue from)")
    if checkpoint is not None:
        if resume and not os.path.exists(checkpoint):
            raise NlpkitError(f"{checkpoint}: no checkpoint to resume from")
        start = load_model(checkpoint, kind=type(model).__name__) if resume else None
        done = getattr(start, "checkpoint_state_", {}).get("epoch")
        if done is not None:  # (a file that is no checkpoint: the fit says so)
            echo(f"resuming after epoch {done} of {checkpoint}")
        model.checkpoint_to(save=lambda m: save_model(m, checkpoint), resume=start)

    frac = model.validation_fraction if model.early_stopping else 0.0
    progress = EpochProgress(n_items - math.ceil(n_items * frac), model.max_epochs, echo, unit)
    try:
        if y is None:
            model.fit(X, callback=progress)
        else:
            model.fit(X, y, callback=progress)
    finally:
        progress.close()
    save_model(model, output)
    details = "".join(f", {d}" for d in ([describe(model)] if describe else []))
    echo(f"wrote {output} ({model.n_epochs_} epochs{details})")
    if plot:
        plot_history(model.history_, plot)
        echo(f"wrote {plot}")
    return model


def load(path, kind):
    """A model file written by ``train``, checked to hold a ``kind`` (class name); nothing in
    it can run code (see nlpkit.models.io)."""
    from ..models.io import load_model

    return load_model(path, kind=kind)


def input_option(what):
    return click.option(
        "-i",
        "--input",
        "input_file",
        default=None,
        help=f"Read {what} from this file, one a line ('-' for stdin).",
    )


#: Lines of an input file or a test set read, predicted and scored at a time: memory holds
#: one block, not the file (issue 17).
BLOCK = 4096


def input_blocks(text, input_file, what):
    """The TEXT arguments as one list, or the lines of ``--input`` in lists of :data:`BLOCK`
    read as they are needed (exactly one of the two must be given; checked at once)."""
    from ..errors import NlpkitError
    from ..text import iter_lines
    from ..text.readers import batched

    if bool(text) == bool(input_file):
        raise NlpkitError(f"give the {what} as TEXT arguments or with --input FILE (one of them)")
    if text:
        return iter([list(text)])
    return nonempty(batched(iter_lines(input_file), BLOCK), input_file, what)


def nonempty(blocks, path, what):
    """``blocks`` as they come; an error naming ``path`` if there is none."""
    from ..errors import InputFileError

    empty = True
    for block in blocks:
        empty = False
        yield block
    if empty:
        raise InputFileError(path, f"no {what}")
