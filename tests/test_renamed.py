"""Renamed public names keep working for one release: each old name warns, names its new
name, and is the very object the new name is."""

from __future__ import annotations

import importlib
import os
import sys

import pytest
from _require import require

# (module, old name, module of the new name, new name)
RENAMED = [
    ("embrm.policy", "best_of_n", "embrm.policy", "pick_best_of_n"),
    ("embrm.policy", "BestOfN", "embrm.policy", "BestOfNPicks"),
    ("embrm.policy", "preference_pairs", "embrm.policy", "preference_dataset"),
    ("embrm.policy", "PAIR_STRATEGIES", "embrm.policy", "PAIRINGS"),
    ("embrm.policy", "prompt_text", "embrm.data", "render_prompt"),
    ("embrm.policy", "response_text", "embrm.data", "render_response"),
    ("embrm.annotate", "aggregate", "embrm.annotate", "merge_votes"),
    ("embrm.data", "group_kfold", "embrm.model_selection", "group_kfold"),
    ("embrm.data", "group_train_test_split", "embrm.model_selection", "group_train_test_split"),
]


# (module, name that left the public names, its private module)
INTERNAL = [
    ("embrm.active", "QUERY_COLUMNS", "embrm.active._rounds"),
    ("embrm.active", "log_det_information", "embrm.active._strategies"),
]


@pytest.mark.parametrize(("module", "old", "new_module", "new"), RENAMED, ids=[r[1] for r in RENAMED])
def test_an_old_name_warns_and_is_the_new_object(module, old, new_module, new):
    expected = getattr(importlib.import_module(new_module), new)
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{old} was renamed {new_module}\.{new}"):
        got = getattr(importlib.import_module(module), old)
    assert got is expected
    assert old not in importlib.import_module(module).__all__


@pytest.mark.parametrize(("module", "name", "private"), INTERNAL, ids=[r[1] for r in INTERNAL])
def test_a_name_that_left_the_public_ones_warns_and_still_works(module, name, private):
    expected = getattr(importlib.import_module(private), name)
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{name} is internal \({private}\.{name}\)"):
        got = getattr(importlib.import_module(module), name)
    assert got is expected
    assert name not in importlib.import_module(module).__all__


def test_an_unknown_name_is_still_an_attribute_error():
    import embrm.policy

    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        embrm.policy.no_such_name  # noqa: B018


def test_the_old_pairing_keyword_warns_and_pairs_the_same():
    require("datasets")
    from embrm.policy import preference_dataset

    args = (["p"], [["a", "b", "c"]], [[3.0, 1.0, 2.0]])
    with pytest.warns(DeprecationWarning) as record:
        line = sys._getframe().f_lineno + 1
        old = preference_dataset(*args, strategy="all")
    assert [str(w.message) for w in record] == [
        "preference_dataset(strategy=...) was renamed pairing=...; the old keyword will be removed "
        "in the next release."
    ]
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutation testing adds frames between the two
        assert (record[0].filename, record[0].lineno) == (__file__, line)
    assert old.to_dict() == preference_dataset(*args, pairing="all").to_dict()
    assert len(old) == 3
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['pair'\\]"):
        preference_dataset(*args, pair="all")
