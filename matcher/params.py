"""scikit-learn's parameter protocol without importing scikit-learn at start-up.

``matcher recommend`` loads a model and answers in well under a second;
importing ``sklearn.base`` alone costs about one second here, so the
estimator implements the protocol that ``clone``, ``GridSearchCV`` and the
estimator checks rely on (``get_params``/``set_params`` read from
``__init__``'s signature, ``__sklearn_tags__``, ``__sklearn_is_fitted__``)
and imports scikit-learn only when one of those tools asks.
"""
from __future__ import annotations

import inspect
from typing import Any


class ParamsMixin:
    """``get_params``/``set_params`` and tags, following scikit-learn's BaseEstimator."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this estimator (as passed to ``__init__``)."""
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any):
        """Set parameters; returns self. Unknown names raise ValueError, as in scikit-learn."""
        valid = self._get_param_names()
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {self!r}. Valid parameters are: {valid!r}.")
            if sub:
                getattr(self, name).set_params(**{sub: value})
            else:
                setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        from sklearn.utils import Tags, TargetTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False), requires_fit=True)

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values() if p.name != "self"
        }
        changed = [f"{k}={v!r}" for k, v in self.get_params(deep=False).items() if defaults.get(k) is not v and defaults.get(k) != v]
        return f"{type(self).__name__}({', '.join(changed)})"
