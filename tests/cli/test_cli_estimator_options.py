"""Every parameter a user tunes in an estimator has an option in the command that trains it:
a parameter added to an estimator without a CLI option fails here."""

import click
import pytest
from click.testing import CliRunner

from nlpkit.cli.main import cli, main
from nlpkit.embed.count_estimators import PPMI, GloVe
from nlpkit.embed.estimators import FastText, Word2Vec
from nlpkit.models.classifier import TextClassifier
from nlpkit.models.masked_lm import MaskedLM
from nlpkit.models.neural_lm import NeuralLM
from nlpkit.models.seq2seq import Seq2Seq
from nlpkit.models.tagger import SequenceTagger
from nlpkit.ngram.lm import NGramLM
from nlpkit.text.subword import BPE, WordPiece

# parameters that have no place on a command line, and why
NOT_ON_THE_CLI = {
    "verbose",  # the CLI shows progress bars (or none with --quiet)
    "warm_start",  # continue training an in-memory model; the CLI writes files
    "sif_a", "weighting",  # how a Python caller turns word vectors into document vectors
}
# (command, parameter): not on the CLI for this command only
NOT_ON_THIS_COMMAND = {
    # a Python callable splitting lines; the CLI reads whitespace tokens ('corpus tokenize')
    ("embed train", "tokenizer"),
    # decoding settings: options of 'seq2seq predict' and 'seq2seq eval' (--beam ...)
    ("seq2seq train", "beam_size"), ("seq2seq train", "length_penalty"),
}
# estimator parameter -> the click parameter that sets it, where the names differ
RENAMED = {
    "max_epochs": "epochs", "random_state": "seed", "n_iter_no_change": "patience",
    "n_jobs": "threads",
    "early_stopping": "validation_fraction",  # 0: no early stopping
}
RENAMED_BY_COMMAND = {
    "embed train": {"vector_size": "dim", "learning_rate": "alpha", "add_context":
                    "context_vectors", "solver": "svd"},
    "ngram build": {"gt_min": "gtmin", "gt_max": "gtmax", "vocab": "vocab_file",
                    "prune": "prune_counts"},
}
ALIASES_BY_ESTIMATOR = {  # one parameter name, two meanings
    PPMI: {"alpha": "power", "dim": "dim"},
    GloVe: {"alpha": "power"},
}

TRAIN_COMMANDS = {
    "classify train": [TextClassifier],
    "tag train": [SequenceTagger],
    "lm train": [NeuralLM, MaskedLM],
    "seq2seq train": [Seq2Seq],
    "embed train": [Word2Vec, FastText, PPMI, GloVe],
    "subword train": [BPE, WordPiece],
    "ngram build": [NGramLM],
}


def command(path):
    group = cli
    ctx = click.Context(cli, info_name="nlpkit")
    for name in path.split():
        group = group.get_command(ctx, name)
        ctx = click.Context(group, parent=ctx, info_name=name)
    return group


@pytest.mark.parametrize("path", sorted(TRAIN_COMMANDS))
def test_every_tunable_parameter_has_an_option(path):
    options = {p.name for p in command(path).params}
    missing = []
    for est in TRAIN_COMMANDS[path]:
        for param in est().get_params():
            if param in NOT_ON_THE_CLI or (path, param) in NOT_ON_THIS_COMMAND:
                continue
            name = ALIASES_BY_ESTIMATOR.get(est, {}).get(param) or \
                RENAMED_BY_COMMAND.get(path, {}).get(param) or RENAMED.get(param, param)
            if name not in options:
                missing.append(f"{est.__name__}.{param}")
    assert not missing, f"nlpkit {path} has no option for {', '.join(missing)}"


def test_the_walk_covers_every_train_command():
    """A new training command must join TRAIN_COMMANDS."""
    ctx = click.Context(cli, info_name="nlpkit")
    found = set()
    for name in cli.list_commands(ctx):
        group = cli.get_command(ctx, name)
        if isinstance(group, click.Group):
            found |= {f"{name} {sub}" for sub in group.list_commands(ctx)
                      if sub in ("train", "build")}
    assert found == set(TRAIN_COMMANDS)


class _Stop(Exception):
    pass


@pytest.fixture()
def files(tmp_path):
    labelled = tmp_path / "l.tsv"
    labelled.write_text("a\tthe goal\nb\tthe bank\n" * 3)
    conll = tmp_path / "t.conll"
    conll.write_text("the\tD\ngoal\tN\n\nthe\tD\nbank\tN\n")
    text = tmp_path / "c.txt"
    text.write_text("the goal was fine\nthe bank is open\n" * 3)
    pairs = tmp_path / "p.tsv"
    pairs.write_text("a b\tb a\nc d\td c\n")
    return {"labelled": str(labelled), "conll": str(conll), "text": str(text),
            "pairs": str(pairs), "out": str(tmp_path / "out")}


# command line -> the estimator it builds, the first method the command calls on it (the
# training commands read their file with read_text, which may use parameters, before fit),
# and parameters that estimator must get from it
BUILT = [
    ("classify train {labelled}", TextClassifier, "read_text", [],
     {"clip": 5.0, "optimizer": "adam", "n_iter_no_change": 3, "tokenizer": None}),
    ("classify train {labelled}", TextClassifier, "read_text",
     ["--clip", "0", "--optimizer", "sgd", "--patience", "2", "--max-length", "50",
      "--tokenizer", "tok.json", "--num-layers", "2"],
     {"clip": None, "optimizer": "sgd", "n_iter_no_change": 2, "max_length": 50,
      "tokenizer": "tok.json", "num_layers": 2}),
    ("tag train {conll}", SequenceTagger, "read_text",
     ["--clip", "2", "--optimizer", "adamw", "--freeze-layers", "1", "--positions", "rope",
      "--word-dropout", "0", "--min-count", "2", "--lowercase"],
     {"clip": 2.0, "optimizer": "adamw", "freeze_layers": 1, "positions": "rope",
      "word_dropout": 0.0, "min_count": 2, "lowercase": True}),
    ("lm train {text}", NeuralLM, "fit", ["--tie-weights", "--clip", "0.5", "--patience", "4"],
     {"tie_weights": True, "clip": 0.5, "n_iter_no_change": 4, "optimizer": "adam"}),
    ("lm train {text} --objective mlm", MaskedLM, "fit", ["--norm-first", "--optimizer", "sgd"],
     {"norm_first": True, "optimizer": "sgd", "clip": 1.0}),
    # training options left out: MaskedLM's own defaults, not the next-token model's shown ones
    ("lm train {text} --objective mlm", MaskedLM, "fit", [],
     {k: MaskedLM().get_params()[k] for k in (
         "max_epochs", "embedding_dim", "hidden_size", "num_layers", "dropout", "batch_size",
         "lr", "lr_schedule", "validation_fraction", "early_stopping")}),
    ("lm train {text} --objective mlm", MaskedLM, "fit",
     ["--num-layers", "2", "--lr", "0.01", "--validation-fraction", "0", "--dropout", "0.2"],
     {"num_layers": 2, "lr": 0.01, "validation_fraction": 0.0, "early_stopping": False,
      "dropout": 0.2, "hidden_size": MaskedLM().hidden_size}),
    ("seq2seq train {pairs}", Seq2Seq, "fit",
     ["--max-output-length", "7", "--optimizer", "adamw", "--num-layers", "2",
      "--label-smoothing", "0.1"],
     {"max_output_length": 7, "optimizer": "adamw", "num_layers": 2, "label_smoothing": 0.1}),
    ("embed train {text} --model fasttext", FastText, "fit",
     ["--ns-exponent", "0.6", "--min-alpha", "0.001", "--threads", "1"],
     {"ns_exponent": 0.6, "min_alpha": 0.001, "n_jobs": 1}),
    ("embed train {text}", Word2Vec, "fit", [], {"ns_exponent": 0.75, "min_alpha": 1e-4}),
    ("embed train {text} --model glove", GloVe, "fit", ["--grad-clip", "5"], {"grad_clip": 5.0}),
    ("subword train {text} --model wordpiece", WordPiece, "_fit",
     ["--strip-accents", "--max-input-chars-per-word", "50", "--unk-token", "[U]"],
     {"strip_accents": True, "max_input_chars_per_word": 50, "unk_token": "[U]"}),
    ("subword train {text}", BPE, "_fit", ["--end-of-word-suffix", "@@", "--unk-token", "<u>"],
     {"end_of_word_suffix": "@@", "unk_token": "<u>"}),
]


@pytest.mark.parametrize("line,est,method,args,expected", BUILT)
def test_options_reach_the_estimator(line, est, method, args, expected, files, monkeypatch):
    seen = {}

    def fit(self, *a, **kw):
        seen.update(self.get_params())
        raise _Stop

    monkeypatch.setattr(est, method, fit)
    argv = ["--quiet", *line.format(**files).split(), "-o", files["out"], *args]
    with pytest.raises(_Stop):
        CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert {k: seen[k] for k in expected} == expected


def test_options_of_the_other_subword_model_are_refused(files):
    for line in ("subword train {text} --max-input-chars-per-word 5",
                 "subword train {text} --model wordpiece --end-of-word-suffix @@"):
        r = CliRunner().invoke(cli, [*line.format(**files).split(), "-o", files["out"]])
        assert r.exit_code != 0 and "apply to --model" in str(r.exception)


@pytest.mark.parametrize("line,message", [
    ("embed train {text} --model sgns --minn 2", "--minn has no effect with --model sgns"),
    ("embed train {text} --model ppmi --negative 3 --epochs 2",
     "--epochs, --negative have no effect with --model ppmi"),
    ("embed train {text} --model fasttext --per-pair-negatives",
     "--shared-negatives/--per-pair-negatives has no effect with --model fasttext"),
    ("embed train {text} --model glove --sample 0.01", "--sample has no effect with --model glove"),
    ("lm train {text} --objective mlm --bptt 10 --tie-weights",
     "--bptt, --tie-weights have no effect with --objective mlm"),
    ("lm train {text} --mask-prob 0.2", "--mask-prob has no effect with --objective clm"),
    # refused by the estimator, by parameter name
    ("classify train {labelled} --positions rope",
     "TextClassifier: positions='rope' has no effect with encoder='lstm'"),
    ("tag train {conll} --char-filters 8", "SequenceTagger: char_filters=8 has no effect"),
    ("seq2seq train {pairs} --nhead 2", "Seq2Seq: nhead=2 has no effect with decoder='lstm'"),
    ("ngram build {text} --smoothing kn --unk -o {out}.arpa",
     "unk (--unk) goes with --smoothing katz"),
])
def test_an_option_that_would_be_ignored_is_one_line_error(line, message, files, capsys):
    with pytest.raises(SystemExit) as exc:
        argv = line.format(**files).split()
        main(["--quiet", *argv, *([] if "-o" in argv else ["-o", files["out"]])])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and err.startswith(f"Error: {message}") and err.count("\n") == 1
