"""The experiments' shared options reach the run: ``--representation`` picks the encoder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from embrm import Encoder

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))
import _common as C  # noqa: E402


@pytest.mark.parametrize("name", ["static", "minilm-split"])
def test_representation_option_picks_the_encoder(name, tmp_path):
    ctx = C.parse_args("demo", "Demo.", ["--representation", name, "--out", str(tmp_path),
                                         "--cache-dir", str(tmp_path / "cache")])
    assert ctx.args.representation == name
    expected = Encoder(name, cache_dir=tmp_path / "cache")
    assert ctx.encoder.identity == expected.identity
    assert ctx.encoder.identity != Encoder(cache_dir=tmp_path / "cache").identity


def test_default_representation_is_minilm(tmp_path):
    ctx = C.parse_args("demo", "Demo.", ["--out", str(tmp_path), "--cache-dir", str(tmp_path / "c")])
    assert ctx.encoder.identity == Encoder("minilm", cache_dir=tmp_path / "c").identity


def test_unknown_representation_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        C.parse_args("demo", "Demo.", ["--representation", "nope", "--out", str(tmp_path)])
    assert "invalid choice" in capsys.readouterr().err
