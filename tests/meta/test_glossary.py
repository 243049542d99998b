"""Public names speak the glossary's words: every word of every public name of embrm's packages
(their ``__all__``, the exception classes) is either plain English or programming (the short
list below) or a term of docs/glossary.md. A new domain word in a public name needs a glossary
entry first, which is where one concept keeps one name."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GLOSSARY = ROOT / "docs" / "glossary.md"
PACKAGES = [
    "embrm",
    "embrm.data",
    "embrm.embed",
    "embrm.heads",
    "embrm.evaluate",
    "embrm.model_selection",
    "embrm.active",
    "embrm.annotate",
    "embrm.policy",
    "embrm.serve",
    "embrm.testing",
    "embrm.exceptions",
]
# Plain English and programming words, which need no entry. Keep it short, and never add a
# word that names a concept of reward modelling, annotation or policy training: define it in
# the glossary instead.
ENGLISH = set(
    """
    a an any as by from in is no not of on out to with within
    available base default expected next single tiny local
    create build check load make read write peek select split verify compare generate simulate
    app bytes columns config data dir env error file format found frame info key keys ms output
    report rows session store table text threaded values version wait warning hosts devices
    tools tasks func binding bearer corrupt mismatch display features
    train test fitted held holds metrics evaluate embrm parametrize
    """.split()
)
# Names whose word clashes with the glossary's word for the same concept, kept until they are
# renamed (a renamed name leaves this list: the test fails while it still names it).
PENDING_RENAMES = {
    "DEFAULT_MAX_ANSWERS": "answer for the glossary's response",
}


def split_words(name: str) -> list[str]:
    """``LGBMHead`` -> lgbm, head; ``best_of_n`` -> best, of, n; ``__version__`` -> version."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", name)
    return [w.lower() for w in words if not w.isdigit()]


def public_names() -> dict[str, str]:
    """Every public name, as ``name -> package``."""
    names = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        exported = getattr(module, "__all__", None)
        if exported is None:
            exported = [
                n
                for n, obj in vars(module).items()
                if not n.startswith("_") and inspect.isclass(obj) and obj.__module__ == package
            ]
        for name in exported:
            names.setdefault(name, package)
    return names


def glossary_terms() -> set[str]:
    """The words of the glossary's terms: the first cell of each table row (bold words and
    code names alike, ``**seed set** (`seed`)`` gives seed, set)."""
    terms = set()
    for cell in re.findall(r"^\| ([^|]+) \|", GLOSSARY.read_text(), flags=re.M):
        if set(cell.strip()) <= set("-: ") or cell.strip() == "word":
            continue
        for token in re.findall(r"[A-Za-z][A-Za-z0-9]*", cell):
            terms.update(split_words(token))
    return terms


def singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def known(word: str, terms: set[str]) -> bool:
    """A word is known if it, or its singular, is English or a glossary term, or it is two
    known words run together (``btmlp``: bt + mlp; ``kfold``: k + fold)."""
    vocabulary = ENGLISH | terms
    if word in vocabulary or singular(word) in vocabulary:
        return True
    return any(
        known(word[:i], terms) and known(word[i:], terms)
        for i in range(1, len(word))
        if word[:i] in vocabulary
    )


def test_the_glossary_has_terms_and_the_packages_have_names():
    terms = glossary_terms()
    assert {"pool", "query", "round", "annotator", "dpo", "grpo", "kl", "proxy", "golden"} <= terms
    assert "meaning" not in terms and "means" not in terms
    assert len(public_names()) > 150


def test_words_are_split_and_matched():
    assert split_words("LGBMHead") == ["lgbm", "head"]
    assert split_words("best_of_n") == ["best", "of", "n"]
    assert split_words("DOptimal") == ["d", "optimal"]
    assert split_words("TEXT_FORMAT_VERSION") == ["text", "format", "version"]
    assert singular("queries") == "query" and singular("pairs") == "pair" and singular("loss") == "loss"
    assert known("btmlp", {"bt", "mlp"}) and not known("btmlp", {"bt"})
    assert not known("oracle", set()) and "oracle" not in glossary_terms() and "gold" not in glossary_terms()


def test_pending_renames_are_still_pending():
    names = public_names()
    done = [name for name in PENDING_RENAMES if name not in names]
    assert not done, f"renamed: remove {done} from PENDING_RENAMES"
    terms = glossary_terms()
    assert all(any(not known(w, terms) for w in split_words(name)) for name in PENDING_RENAMES)


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_use_glossary_words(package):
    terms = glossary_terms()
    unknown = {
        name: [w for w in split_words(name) if not known(w, terms)]
        for name, where in public_names().items()
        if where == package and name not in PENDING_RENAMES
    }
    unknown = {name: words for name, words in unknown.items() if words}
    assert not unknown, (
        f"{package}: public names with words docs/glossary.md does not define (add an entry, "
        f"or use the glossary's word): {unknown}"
    )
