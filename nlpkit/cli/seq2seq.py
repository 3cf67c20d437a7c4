"""``nlpkit seq2seq``: train and apply encoder-decoder models with attention.

DATA files hold one pair a line: ``source<TAB>target``, tokens separated by
spaces (use ``--chars`` to read each side as characters, e.g. spelling tasks).
"""

from __future__ import annotations

import click

from ..errors import NlpkitError
from .common import CommandGroup, echo
from .model_common import (
    BLOCK,
    estimator_params,
    fit_and_save,
    input_blocks,
    input_option,
    load,
    training_options,
)


@click.group(name="seq2seq", cls=CommandGroup)
def seq2seq():
    """Encoder-decoder models: LSTM with or without attention, transformer (greedy and
    beam-search decoding; BLEU, chrF and WER)."""


def transformer_options(command):
    """The transformer's options (decoder, heads, feed-forward, positions, sharing)."""
    options = [
        click.option("--decoder", type=click.Choice(["lstm", "transformer"]), default="lstm",
                     show_default=True,
                     help="transformer: Vaswani et al.'s encoder-decoder (with --encoder "
                     "transformer); the model size is --embedding-dim."),
        click.option("--nhead", type=click.IntRange(min=1), default=None,
                     help="Attention heads (default: 8, 4, 2 or 1, heads of at least 16)."),
        click.option("--dim-feedforward", type=click.IntRange(min=1), default=None,
                     help="Transformer feed-forward size (default: 4 x --embedding-dim)."),
        click.option("--norm-first", is_flag=True, help="Pre-LN transformer layers."),
        click.option("--positions", type=click.Choice(["sinusoidal", "learned", "rope",
                                                        "alibi"]),
                     default="sinusoidal", show_default=True,
                     help="Transformer positions: added to the embeddings, or inside "
                     "attention (rope, alibi)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@seq2seq.command("train")
@click.argument("data")
@click.option("-o", "--output", required=True, help="Model file to write (.gz compresses).")
@click.option(
    "--encoder", type=click.Choice(["bilstm", "transformer"]), default="bilstm", show_default=True
)
@click.option(
    "--attention", type=click.Choice(["dot", "additive", "none"]), default="dot",
    show_default=True,
    help="Attention of the LSTM decoder; none: it starts from the encoder's last state only.",
)
@transformer_options
@click.option("--share-embeddings", is_flag=True,
              help="One vocabulary and embedding table for both sides (transformer decoder).")
@click.option("--tie-output", is_flag=True,
              help="The output layer's weight is the target embedding (transformer decoder).")
@click.option("--label-smoothing", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              show_default=True)
@click.option("--chars", is_flag=True, help="Read source and target as characters.")
@click.option("--max-output-length", type=click.IntRange(min=1), default=None,
              help="Longest output of predict and eval (default: 2 x source length + 10).")
@training_options(
    epochs=20,
    embedding_dim=64,
    hidden_size=128,
    dropout=0.1,
    lr=2e-3,
    validation_fraction=0.05,
    min_hidden=2,
)
def train_cmd(data, output, encoder, attention, decoder, nhead, dim_feedforward, norm_first,
              positions, share_embeddings, tie_output, label_smoothing, chars, max_output_length,
              **common):
    """Train on the pairs of DATA and write the model to OUTPUT."""
    from ..models.seq2seq import Seq2Seq
    from ..text.readers import iter_pairs
    from ..text.spill import spill_dir

    model = Seq2Seq(encoder=encoder, decoder=decoder,
                    attention=None if attention == "none" else attention, nhead=nhead,
                    dim_feedforward=dim_feedforward, norm_first=norm_first, positions=positions,
                    share_embeddings=share_embeddings, tie_output=tie_output,
                    label_smoothing=label_smoothing, max_output_length=max_output_length,
                    **estimator_params(common))
    model.chars_ = chars  # how predict reads its inputs
    # the file is read once, encoded to files that training gathers its batches from
    with spill_dir("nlpkit-seq2seq-") as directory:
        pairs = model.read_text(iter_pairs(data, chars), directory, what=data)
        echo(f"{data}: {len(pairs)} pairs")
        fit_and_save(
            model,
            output,
            pairs,
            n_items=pairs.target.n_tokens + len(pairs),
            unit="tokens",
            common=common,
        )


def decoding_options(command):
    options = [
        click.option("--beam", type=click.IntRange(min=1), default=None,
                     help="Beam size (1: greedy; default: the model's beam_size)."),
        click.option("--length-penalty", type=click.FloatRange(min=0), default=None,
                     help="GNMT's alpha for ranking beams (default: the model's, 0.6).")]
    for option in reversed(options):
        command = option(command)
    return command


@seq2seq.command("predict")
@click.argument("model")
@click.argument("text", nargs=-1)
@input_option("sources")
@decoding_options
def predict_cmd(model, text, input_file, beam, length_penalty):
    """Print the output for each TEXT (or each line of --input)."""
    blocks = input_blocks(text, input_file, "sources")
    m = load(model, "Seq2Seq")
    chars = getattr(m, "chars_", False)
    done = 0
    for block in blocks:  # printed a block at a time: memory holds one block
        sources = [list(s.strip()) if chars else s.split() for s in block if s.strip()]
        done += len(sources)
        for out in m.predict(sources, beam_size=beam, length_penalty=length_penalty) if sources \
                else []:
            click.echo(("" if chars else " ").join(out))
    if not done:
        raise NlpkitError("no sources to translate (every line is blank)")


@seq2seq.command("eval")
@click.argument("model")
@click.argument("data")
@decoding_options
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def eval_cmd(model, data, beam, length_penalty, as_json):
    """BLEU, chrF (as sacrebleu computes them) and WER of MODEL's outputs for the sources of
    DATA (source<TAB>target lines) against their targets, and the exact-match rate.

    Outputs and targets are compared as text: tokens joined by spaces (characters
    joined without, for a model trained with --chars); BLEU tokenises them with 13a."""
    import json

    from .. import metrics
    from ..text.readers import batched, iter_pairs

    m = load(model, "Seq2Seq")
    chars = getattr(m, "chars_", False)
    joiner = "" if chars else " "
    # the scores' sufficient statistics, summed as the pairs go by a block at a time
    bleu, chrf, wer = metrics.BLEUStats(), metrics.CHRFStats(), metrics.ErrorRate("word")
    pairs = exact = 0
    for block in batched(iter_pairs(data, chars), BLOCK):  # (an empty file: an error)
        src, tgt = zip(*block)
        outputs = m.predict(list(src), beam_size=beam, length_penalty=length_penalty)
        hyps, refs = [joiner.join(o) for o in outputs], [joiner.join(t) for t in tgt]
        bleu.update(hyps, [refs])
        chrf.update(hyps, [refs])
        wer.update(outputs, list(tgt))  # over the model's tokens
        pairs += len(refs)
        exact += sum(o == t for o, t in zip(outputs, tgt))
    bleu, chrf = bleu.score(), chrf.score()
    scores = {
        "pairs": pairs,
        "bleu": bleu.score,
        "chrf": chrf.score,
        "wer": wer.rate(),
        "exact_match": exact / pairs,
    }
    if as_json:
        click.echo(json.dumps(scores))
        return
    click.echo(f"{data}: {pairs} pairs, beam {m.beam_size if beam is None else beam}")
    click.echo(str(bleu))
    click.echo(str(chrf))
    click.echo(f"WER = {100 * scores['wer']:.2f} (per {'character' if chars else 'token'})")
    click.echo(f"exact match = {100 * scores['exact_match']:.2f}")
