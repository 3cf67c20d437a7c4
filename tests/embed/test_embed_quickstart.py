"""The quickstart step trains, saves and shows neighbours."""
from nlpkit.embed import load
from nlpkit.embed.quickstart import quickstart_step


def test_quickstart_step(tmp_path):
    lines = []
    summary = quickstart_step(tmp_path, lines.append)
    kv = load(tmp_path / "kjv-sgns.vec")
    assert kv.vector_size == 64 and "god" in kv.key_to_index
    assert "god" in summary and any(line.strip().startswith("king") for line in lines)
