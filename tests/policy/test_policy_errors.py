"""What goes wrong on the policy side says what to do: an unloadable model, a missing
``policy`` extra, bad generation arguments. No real LM is loaded here."""

from __future__ import annotations

import subprocess
import sys

import pytest

from embrm.exceptions import DataError, ModelLoadError
from embrm.policy import dpo_config, generate_candidates, load_policy_model, preference_dataset, train_dpo


def test_core_import_stays_light():
    code = ("import sys, embrm.policy; "
            "print(sorted(m for m in ('torch', 'transformers', 'trl', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unloadable_models(tmp_path):
    missing = tmp_path / "missing-model"  # a path-like name the hub rejects without a request
    with pytest.raises(ModelLoadError, match=r"(?s)Cannot load .*missing-model.*causal LM.*a .gguf file"):
        load_policy_model(missing, cache_dir=tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}')
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="folder holding a transformers causal LM"):
        load_policy_model(broken, cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("module", "purpose"),
    [("trl", "DPO training"), ("datasets", "Building DPO preference pairs"), ("torch", None)],
)
def test_missing_policy_extra_names_the_install(monkeypatch, tmp_path, module, purpose):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install .*'embrm\[policy\]'"):
        if module == "trl":
            dpo_config(tmp_path)
        elif module == "datasets":
            preference_dataset(["p"], [["a", "b"]], [[1.0, 0.0]])
        else:
            generate_candidates(object(), ["p"], 2)
    if purpose is not None:  # the message says what needed the package
        message = (f"^{purpose} needs the optional package '{module}', which is not installed\\. "
                   r"Install it with: pip install 'embrm\[policy\]'$")
        calls = {
            "trl": [lambda: dpo_config(tmp_path),
                    lambda: train_dpo(object(), [], tokenizer=None, output_dir=tmp_path)],
            "datasets": [lambda: preference_dataset(["p"], [["a", "b"]], [[1.0, 0.0]])],
        }[module]
        for call in calls:
            with pytest.raises(ImportError, match=message):
                call()


def test_generation_arguments_are_checked():
    with pytest.raises(DataError, match="n must be a positive integer"):
        generate_candidates(object(), ["p"], 0)
    with pytest.raises(DataError, match="not a single string"):
        generate_candidates(object(), "p", 2)
    with pytest.raises(DataError, match="needs its tokenizer"):
        generate_candidates(object(), ["p"], 2)


class _Untouchable:
    """A model stand-in that fails the test if anything reaches it (errors come first)."""

    def __getattr__(self, name):
        raise AssertionError(f"train_dpo used the model ({name}) before checking its inputs")


def test_train_dpo_checks_its_inputs_before_training(tmp_path):
    pairs = preference_dataset(["p"], [["a", "b"]], [[1.0, 0.0]])
    model = _Untouchable()
    with pytest.raises(DataError, match=r"^Pass output_dir \(where TRL writes its logs\) or a ready "
                       r"DPOConfig as config\.$"):
        train_dpo(model, pairs, tokenizer=None)
    with pytest.raises(DataError, match=r"^Pass DPOConfig fields either in config or as keywords, not both: "
                       r"\['beta', 'max_steps'\]\.$"):
        train_dpo(model, pairs, tokenizer=None, config=dpo_config(tmp_path), beta=0.2, max_steps=1)
    empty = preference_dataset(["p"], [["a", "b"]], [[1.0, 1.0]])  # a tie makes no pair
    assert len(empty) == 0
    with pytest.raises(DataError, match=r"^No preference pairs to train on: lower the margin or give more "
                       r"candidates per prompt\.$"):
        train_dpo(model, empty, tokenizer=None, output_dir=tmp_path)


def test_preference_pairs_refuses_bad_rewards_and_mixed_prompts():
    chat = [{"role": "user", "content": "p"}]
    with pytest.raises(DataError, match="margin must be a finite number >= 0"):
        preference_dataset(["p"], [["a", "b"]], [[1.0, 0.0]], margin=-0.1)
    with pytest.raises(DataError, match="margin must be a finite number >= 0"):
        preference_dataset(["p"], [["a", "b"]], [[1.0, 0.0]], margin=float("nan"))
    with pytest.raises(DataError, match=r"^rewards must hold one array per prompt; got 1 for 2 prompts\.$"):
        preference_dataset(["p", "q"], [["a", "b"], ["c", "d"]], [[1.0, 0.0]])
    with pytest.raises(DataError, match=r"^Prompt 0 has a NaN or infinite reward\.$"):
        preference_dataset(["p"], [["a", "b"]], [[float("inf"), 0.0]])
    with pytest.raises(DataError, match=r"^Mix of plain-text and conversational prompts: give all prompts "
                       r"in one form\.$"):
        preference_dataset([chat, "q"], [["a", "b"], ["c", "d"]], [[1.0, 0.0], [1.0, 0.0]])
