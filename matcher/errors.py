"""The library's exceptions.

Every error a user can cause is a :class:`MatcherError` with a message a
coordinator understands; the CLI and the web app map them to output in one
place each, so no traceback ever reaches a user.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


class MatcherError(Exception):
    """Base class of every error the library reports to users.

    Messages name parameters in backticks (`` `resume=True` ``, `` `folds` ``);
    each edge puts them in its own words with :func:`in_words` (the CLI names
    its options, the web app its fields).
    """


_PARAMETER = re.compile(r"`([A-Za-z_]+(?:=[^`]*)?)`")


def in_words(message: str, names: Mapping[str, str]) -> str:
    """``message`` with each backticked parameter replaced by its name in ``names`` (else shown plainly).

    Examples
    --------
    >>> in_words("pass `resume=True` to continue; `folds` must be >= 2", {"resume=True": "--resume"})
    'pass --resume to continue; folds must be >= 2'
    """
    return _PARAMETER.sub(lambda m: names.get(m.group(1), m.group(1)), message)


class DataError(MatcherError):
    """One or more problems in an input table.

    Parameters
    ----------
    problems : sequence of str
        One message per problem, each already naming file, row and column
        (``"schools.csv: row 3, column latitude: 'abc' is not a number"``).
    """

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class UnknownIdError(MatcherError, KeyError):
    """A school or partner id that the model does not know, or a name that several share.

    Parameters
    ----------
    kind : {"school", "partner"}
    id_ : str
        The id (or name) asked for.
    suggestions : sequence of str
        Close ids, best first (may be empty).
    ambiguous : bool
        The text was a name that several schools (or partners) match.
    candidates : sequence of (str, str)
        With ``ambiguous``: the (id, name) of each match, in id order; the
        first :attr:`SHOWN` ids become ``suggestions``.

    Examples
    --------
    >>> print(UnknownIdError("school", "S00001", ["S000001", "S000010"]))
    unknown school id 'S00001'; did you mean 'S000001', 'S000010'?
    >>> print(UnknownIdError("school", "oak", ambiguous=True,
    ...                      candidates=[("S1", "Oak Elementary"), ("S2", "Oak Ridge High")]))
    'oak' matches 2 schools: S1 (Oak Elementary), S2 (Oak Ridge High); give one of the ids
    """

    #: Candidates named in an ambiguous-name message (the rest are counted).
    SHOWN = 10

    def __init__(self, kind: str, id_: str, suggestions: Sequence[str] = (), ambiguous: bool = False,
                 candidates: Sequence[tuple[str, str]] = ()):
        self.kind = kind
        self.id = id_
        self.ambiguous = ambiguous
        self.candidates = [(str(i), str(n)) for i, n in candidates]
        self.suggestions = list(suggestions) or [i for i, _ in self.candidates[: self.SHOWN]]
        if ambiguous:
            many = len(self.candidates) or len(self.suggestions)
            shown = [f"{i} ({n})" for i, n in self.candidates[: self.SHOWN]] or [repr(s) for s in self.suggestions]
            more = f" and {many - len(shown)} more" if many > len(shown) else ""
            msg = f"{id_!r} matches {many} {kind}s: " + ", ".join(shown) + more + "; give one of the ids"
        else:
            msg = f"unknown {kind} id {id_!r}"
            if self.suggestions:
                msg += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return self.args[0]


class ModelFileError(MatcherError):
    """A model file that is missing, truncated, corrupt, tampered with or incompatible."""


class WeightsError(MatcherError):
    """Bad block weights: unknown block, negative or non-numeric value, unreadable file."""


class EncoderError(MatcherError):
    """A text encoder folder or weights file that is missing, incomplete or corrupt."""
