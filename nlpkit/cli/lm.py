"""``nlpkit lm``: neural language models (next-token, word or character; masked-token
pretraining): train, perplexity and bits per character, generation.

CORPUS and TEXT files hold one sentence a line (plain, .gz, .bz2, .xz or '-'),
tokens separated by spaces, as for ``nlpkit ngram``; perplexities count the
same tokens as ``nlpkit ngram ppl`` (``</s>`` included, OOVs left out).
"""

from __future__ import annotations

import json

import click

from .common import CommandGroup, echo, refuse_options
from .model_common import estimator_params, fit_and_save, load, training_options


@click.group(name="lm", cls=CommandGroup)
def lm():
    """Neural language models (LSTM, GRU, RNN, causal transformer; BERT-style masked LM)."""


def _defaulted_params():
    """The estimator parameters whose training options were left at their defaults."""
    ctx = click.get_current_context()
    by_option = {"epochs": ("max_epochs",), "embedding_dim": ("embedding_dim",),
                 "hidden_size": ("hidden_size",), "num_layers": ("num_layers",),
                 "dropout": ("dropout",), "batch_size": ("batch_size",), "lr": ("lr",),
                 "lr_schedule": ("lr_schedule",),
                 "validation_fraction": ("validation_fraction", "early_stopping")}
    return {param for option, params in by_option.items()
            if ctx.get_parameter_source(option) is click.core.ParameterSource.DEFAULT
            for param in params}


@lm.command("train")
@click.argument("corpus")
@click.option("-o", "--output", required=True, help="Model file to write (.gz compresses).")
@click.option(
    "--objective",
    type=click.Choice(["clm", "mlm"]),
    default="clm",
    show_default=True,
    help="clm: predict the next token (NeuralLM); mlm: BERT's masked tokens (MaskedLM, a "
    "transformer encoder to fine-tune with 'classify train --pretrained').",
)
@click.option(
    "--cell",
    type=click.Choice(["lstm", "gru", "rnn", "transformer"]),
    default="lstm",
    show_default=True,
    help="The next-token model's network (--objective clm).",
)
@click.option(
    "--unit",
    type=click.Choice(["word", "char"]),
    default="word",
    show_default=True,
    help="char: a character-level model (--objective clm); 'lm ppl' reports bits per "
    "character.",
)
@click.option(
    "--positions",
    type=click.Choice(["sinusoidal", "learned", "rope", "alibi"]),
    default=None,
    help="Transformer positions (default: sinusoidal for clm, learned for mlm).",
)
@click.option("--nhead", type=click.IntRange(min=1), default=None,
              help="Attention heads of an mlm model (default: heads of at least 16).")
@click.option("--mask-prob", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.15, show_default=True, help="Share of tokens to predict (mlm).")
@click.option("--max-length", type=click.IntRange(min=1), default=128, show_default=True,
              help="mlm: longer lines are cut into pieces of this many tokens.")
@click.option("--lowercase", is_flag=True, help="Lowercase the text first (mlm).")
@click.option("--norm-first", is_flag=True, help="Pre-LN transformer layers (mlm).")
@click.option("--tie-weights", is_flag=True,
              help="The output layer's weight is the input embedding (clm; a recurrent cell "
              "then needs --hidden-size equal to --embedding-dim).")
@training_options(
    epochs=10,
    embedding_dim=128,
    hidden_size=256,
    dropout=0.2,
    lr=2e-3,
    validation_fraction=0.05,
    batch_help="Sentences per batch.",
)
@click.option(
    "--bptt",
    type=click.IntRange(min=1),
    default=35,
    show_default=True,
    help="Steps per truncated back-propagation chunk.",
)
@click.option("--min-count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--max-vocab",
    type=click.IntRange(min=1),
    default=None,
    help="The softmax covers the most frequent words only (the rest share <unk>'s probability).",
)
def train_cmd(corpus, output, objective, cell, unit, positions, nhead, mask_prob, max_length,
              lowercase, norm_first, tie_weights, bptt, min_count, max_vocab, **common):
    """Train a language model on CORPUS and write it to OUTPUT.

    The defaults shown are the next-token model's (--objective clm); with --objective mlm the
    training options left out take MaskedLM's defaults (BERT's recipe: 4 layers, hidden size
    512, dropout 0.1, lr 5e-4 decaying linearly, 2% held out)."""
    from ..errors import NlpkitError
    from ..text import iter_lines

    params = estimator_params(common)
    refuse_options(("cell", "unit", "bptt", "tie_weights") if objective == "mlm" else
                   ("nhead", "mask_prob", "max_length", "lowercase", "norm_first"),
                   f"with --objective {objective}")
    if objective == "mlm":
        from ..models.masked_lm import MaskedLM

        if unit != "word":
            raise NlpkitError("--objective mlm works on words: --unit char is for clm")
        # the options' shown defaults are the next-token model's: those the user left out
        # give way to MaskedLM's own (BERT's recipe: more layers, less dropout, lower lr...)
        params = {k: v for k, v in params.items() if k not in _defaulted_params()}
        model = MaskedLM(positions=positions or "learned", nhead=nhead, mask_prob=mask_prob,
                         max_length=max_length, min_count=min_count, max_vocab=max_vocab,
                         lowercase=lowercase, norm_first=norm_first, **params)
        import itertools

        from ..text.spill import spill_dir

        # the text is read once, encoded to files that training gathers its batches from
        with spill_dir("nlpkit-mlm-") as directory:
            lines = (line for line in iter_lines(corpus) if line.strip())
            first = next(lines, None)
            if first is None:
                raise NlpkitError(f"{corpus}: no text")
            text = model.read_text(itertools.chain([first], lines), directory, what=corpus)
            echo(f"{corpus}: {text.n_sentences} lines, {text.n_tokens} tokens")
            fit_and_save(model, output, text, n_items=text.n_tokens, unit="tokens",
                         common=common,
                         describe=lambda m: f"vocabulary {len(m.vocab_)}")
        return
    from ..models.neural_lm import NeuralLM

    from ..text.spill import spill_dir

    model = NeuralLM(cell=cell, unit=unit, positions=positions or "sinusoidal", bptt=bptt,
                     min_count=min_count, max_vocab=max_vocab, tie_weights=tie_weights,
                     **params)
    # the text is read once, encoded to files that training gathers its batches from
    with spill_dir("nlpkit-lm-") as directory:
        text = model.read_text(iter_lines(corpus), directory, what=corpus)
        n_tokens = text.n_tokens + text.n_sentences
        echo(f"{corpus}: {text.n_sentences} sentences, {n_tokens} tokens with </s>")
        fit_and_save(
            model,
            output,
            text,
            n_items=n_tokens,
            unit="tokens",
            common=common,
            describe=lambda m: f"vocabulary {len(m.vocab_)}",
        )


@lm.command("ppl")
@click.argument("model")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def ppl_cmd(model, text, as_json):
    """Perplexity of MODEL on TEXT (SRILM's ngram -ppl summary)."""
    from ..text import iter_lines

    from ..metrics.lm import bits_per_character

    m = load(model, "NeuralLM")
    st, chars = m._score_text(iter_lines(text))  # one streaming pass gives both figures
    bpc = bits_per_character([st.logprob], chars, base=10)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "sentences": st.sentences,
                    "words": st.words,
                    "oovs": st.oovs,
                    "logprob": st.logprob,
                    "ppl": st.ppl,
                    "ppl1": st.ppl1,
                    "bits_per_character": bpc,
                }
            )
        )
        return
    unit = "characters" if getattr(m, "unit", "word") == "char" else "words"
    click.echo(f"file {text}: {st.sentences} sentences, {st.words} {unit}, {st.oovs} OOVs")
    click.echo(f"0 zeroprobs, logprob= {st.logprob:.6g} ppl= {st.ppl:.6g} ppl1= {st.ppl1:.6g}")
    click.echo(f"bits per character= {bpc:.4f}")


@lm.command("generate")
@click.argument("model")
@click.option("--prompt", default="", help="Words to continue.")
@click.option(
    "-n", "--num", type=click.IntRange(min=1), default=1, show_default=True, help="How many texts."
)
@click.option("--max-tokens", type=click.IntRange(min=1), default=30, show_default=True)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="0 decodes greedily.",
)
@click.option(
    "--top-k", type=click.IntRange(min=1), default=None, help="Sample among the k best words."
)
@click.option("--seed", type=int, default=0, show_default=True)
def generate_cmd(model, prompt, num, max_tokens, temperature, top_k, seed):
    """Continue --prompt with words drawn from MODEL, one text a line."""
    import numpy as np

    lm_ = load(model, "NeuralLM")
    rng = np.random.default_rng(seed)
    for _ in range(num):
        cont = lm_.generate(
            prompt, max_tokens=max_tokens, temperature=temperature, top_k=top_k, random_state=rng
        )
        click.echo(" ".join(w for w in (prompt.strip(), cont) if w))
