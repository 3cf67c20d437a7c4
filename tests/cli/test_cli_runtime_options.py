"""``--threads`` and ``--device`` on every command as well as on ``nlpkit`` itself: one
definition (cli.common.runtime_options), the same checks, the same effect, the
subcommand's value winning over the global one."""

import click
import numba
import pytest
from click.testing import CliRunner

from nlpkit import backend
from nlpkit.cli.main import cli, main
from nlpkit.models.io import load_model


def walk(group, ctx, path=()):
    """Every command under ``group``, groups included, with its path of names."""
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield path + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from walk(cmd, click.Context(cmd, parent=ctx, info_name=name), path + (name,))


def test_every_command_takes_threads_and_device():
    commands = list(walk(cli, click.Context(cli, info_name="nlpkit")))
    assert len(commands) > 30  # the walk reached the subcommands of every group
    for path, cmd in commands:
        params = {p.name: p for p in cmd.params}
        for name in ("threads", "device"):
            assert name in params, f"nlpkit {' '.join(path)} has no --{name}"
            # the one definition: same type, same callback as the global option
            glob = next(p for p in cli.params if p.name == name)
            assert params[name].callback is glob.callback
            assert type(params[name].type) is type(glob.type)
            assert params[name].envvar is None  # env vars are read by `nlpkit` only
        flags = [o for p in cmd.params for o in (*p.opts, *p.secondary_opts)]
        assert len(flags) == len(set(flags)), f"nlpkit {' '.join(path)}: a flag is declared twice"


@pytest.fixture()
def data(tmp_path):
    f = tmp_path / "train.tsv"
    f.write_text("".join(f"{lab}\t{text}\n" for lab, text in [
        ("a", "the goal was fine"), ("b", "the bank is open"), ("a", "a late goal"),
        ("b", "my bank account")] * 5))
    return f


SMALL = ["--epochs", "1", "--embedding-dim", "4", "--hidden-size", "4",
         "--validation-fraction", "0"]


@pytest.fixture()
def restore_threads():
    n = numba.get_num_threads()
    yield
    numba.set_num_threads(n)


def test_subcommand_options_reach_the_estimator_and_win(data, tmp_path, restore_threads):
    out = tmp_path / "m.nlpkit"
    # the global value is overridden by the subcommand's (under the simulator cuda would be
    # accepted, and slow: cpu winning is what keeps this fast)
    r = CliRunner().invoke(cli, ["--quiet", "--device", "cuda", "--threads", "2", "classify",
                                 "train", str(data), "-o", str(out), *SMALL,
                                 "--device", "cpu", "--threads", "1"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    params = load_model(out, kind="TextClassifier").get_params()
    assert params["device"] == "cpu" and params["n_jobs"] == 1
    assert numba.get_num_threads() == 1  # the same effect as `nlpkit --threads 1`
    # given only globally, the global value is used
    r = CliRunner().invoke(cli, ["--quiet", "--device", "cpu", "--threads", "1", "classify",
                                 "train", str(data), "-o", str(out), *SMALL],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert load_model(out, kind="TextClassifier").get_params()["device"] == "cpu"
    # a group takes them too, and a command that runs no estimator
    r = CliRunner().invoke(cli, ["info", "--json", "--threads", "1"], catch_exceptions=False)
    assert r.exit_code == 0 and '"threads": 1' in r.output


def test_same_validation_as_the_global_option(data, tmp_path):
    for args in (["--threads", "0"], ["--device", "tpu"]):
        glob = CliRunner().invoke(cli, [*args, "corpus", "stats", str(data)])
        sub = CliRunner().invoke(cli, ["corpus", "stats", str(data), *args])
        assert glob.exit_code == sub.exit_code == 2
        assert glob.output.splitlines()[-1] == sub.output.splitlines()[-1]
        assert "Invalid value for" in sub.output


def test_cuda_without_gpu_is_the_global_forms_one_line_error(data, tmp_path, monkeypatch,
                                                             capsys):
    monkeypatch.setattr(backend, "_cuda_probe", lambda: (None, "no CUDA GPU was found"))
    errors = []
    for args in (["--device", "cuda", "classify", "train", str(data), "-o",
                  str(tmp_path / "m"), *SMALL],
                 ["classify", "train", str(data), "-o", str(tmp_path / "m"), *SMALL,
                  "--device", "cuda"]):
        with pytest.raises(SystemExit) as exc:
            main(["--quiet", *args])
        assert exc.value.code == 1
        errors.append(capsys.readouterr().err)
    assert errors[0] == errors[1] == (
        "Error: device 'cuda' is not available: no CUDA GPU was found\n")
    assert not (tmp_path / "m").exists()
