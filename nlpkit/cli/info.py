"""``nlpkit info``: versions, threads, and whether CUDA (or its simulator) can be used."""
import json
import platform

import click

from .. import backend
from .._version import __version__
from .common import runtime_options


def _versions():
    import numba
    import numpy
    import scipy
    import sklearn
    out = {"nlpkit": __version__, "python": platform.python_version(), "numba": numba.__version__,
           "numpy": numpy.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
           "click": _dist_version("click")}
    cuda = _dist_version("numba-cuda")
    out["numba-cuda"] = cuda or "not installed"
    return out


def _dist_version(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@click.command()
@runtime_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
def info(as_json):
    """Versions, threads, and whether CUDA or the CUDA simulator is available."""
    data = {"versions": _versions(), **backend.info()}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for name, version in data.pop("versions").items():
        click.echo(f"{name:<18}{version}")
    for key, value in data.items():
        click.echo(f"{key.replace('_', ' '):<18}{value}")
