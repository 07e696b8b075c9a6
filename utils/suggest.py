""" "Did you mean ...?" for names a user typed: backbones, timm models, YAML modules and keys."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Characters people type for one another: a letter o for a zero, a dash for an underscore, capitals.
_CONFUSABLE = str.maketrans({"o": "0", "O": "0", "-": "_", " ": "_"})


def _normalised(name: str) -> str:
    return name.lower().translate(_CONFUSABLE)


def closest(name: str, candidates: Iterable[str], cutoff: float | None = None) -> str | None:
    """The candidate most similar to ``name`` (difflib's ratio), or None below ``cutoff`` (difflib's 0.6; 0.5 for
    names of up to three characters, where one wrong character already costs half: ``C4`` finds ``C3``).

    Similarity is measured on normalised spellings first (``efficientnet_bo`` is ``efficientnet_b0``, not the equally
    distant ``efficientnet_b7``), then on the raw strings to break ties."""
    if cutoff is None:
        cutoff = 0.5 if len(name) <= 3 else 0.6
    wanted, best, best_score = _normalised(name), None, (cutoff, 0.0)
    matcher = difflib.SequenceMatcher(b=wanted)
    for candidate in candidates:
        matcher.set_seq1(_normalised(candidate))
        if matcher.real_quick_ratio() < cutoff or matcher.quick_ratio() < cutoff:
            continue
        score = (matcher.ratio(), difflib.SequenceMatcher(a=candidate, b=name).ratio())
        if score >= best_score:
            best, best_score = candidate, score
    return best


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""`` when none is close."""
    match = closest(name, candidates)
    return f"; did you mean {match!r}?" if match else ""
