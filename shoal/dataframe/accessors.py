"""The ``.dt``, ``.str`` and ``.cat`` accessors of a shoal Series, built generically.

No method is written out by hand.  An accessor looks names up on the pandas
accessor of the Series' metadata (``meta.dt``, ``meta.str``...):

- a *property* (``s.dt.hour``) becomes one task per partition at once;
- a *method* (``s.str.contains``) becomes a function that, when called, builds
  one task per partition with the call's arguments;
- both run ``methods.accessor_call(partition, "dt", name, args, kwargs)`` through
  ``map_partitions``, whose output schema is inferred by running the same call
  on metadata (a dd Series or Scalar in the arguments is aligned or broadcast
  like any other ``map_partitions`` argument);
- a property pandas deprecates in favour of a new name (``dt.dayofweek`` in
  pandas 3) repeats pandas' warning once, where the user wrote it, and the
  tasks use the new name;
- a few properties describe the schema, not the data (``dt.tz``, ``dt.unit``,
  ``cat.categories``, ``cat.ordered``) and are answered from the metadata;
- names that would need the whole column at once (``str.cat`` without
  ``others``, ``str.get_dummies``, ``split(expand=True)`` without ``n``) raise
  ``NotImplementedError`` saying what to do instead;
- an unknown name raises ``AttributeError`` listing close or valid names, and
  using ``.dt`` on a non-datetime Series raises pandas' own ``AttributeError``.
"""

from __future__ import annotations

import difflib
import inspect
import warnings

import pandas as pd

from shoal.dataframe import methods

__all__ = ["CategoricalAccessor", "DatetimeAccessor", "StringAccessor"]


class _Accessor:
    _name = ""
    _renamed: dict = {}
    _from_meta: frozenset = frozenset()
    _unsupported: dict = {}

    def __init__(self, series):
        try:
            meta_accessor = getattr(series._meta, self._name)
        except AttributeError as exc:
            raise AttributeError(f"{exc} (shoal Series {series.name!r} has dtype "
                                 f"{series.dtype})") from None
        object.__setattr__(self, "_series", series)
        object.__setattr__(self, "_meta_accessor", meta_accessor)

    def _valid_names(self):
        return sorted(n for n in dir(type(self._meta_accessor)) if not n.startswith("_"))

    def __dir__(self):
        return sorted(set(self._valid_names()) | set(object.__dir__(self)))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        static = inspect.getattr_static(type(self._meta_accessor), name, None)
        if static is None:
            valid = self._valid_names()
            close = difflib.get_close_matches(name, valid, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise AttributeError(f"'.{self._name}' accessor has no attribute {name!r}; {hint}"
                                 f"valid names include {', '.join(valid[:12])}, ...")
        if name in self._unsupported:
            raise NotImplementedError(f".{self._name}.{name}: {self._unsupported[name]}")
        if name in self._from_meta:
            return getattr(self._meta_accessor, name)
        if isinstance(static, property):
            return self._build(self._current_name(name), None, None)

        def method(*args, **kwargs):
            return self._call(name, args, kwargs)

        method.__name__ = name
        method.__doc__ = getattr(static, "__doc__", None)
        return method

    def _current_name(self, name):
        """*name*, or its replacement when pandas deprecates it (the warning is repeated here,
        where the user wrote it, and the tasks use the new name and stay quiet)."""
        if name not in self._renamed:
            return name
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            getattr(self._meta_accessor, name)
        for w in caught:
            if issubclass(w.category, (DeprecationWarning, FutureWarning)):
                warnings.warn(str(w.message), w.category, stacklevel=3)
                return self._renamed[name]
        return name

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot set attributes on the .{self._name} accessor")

    def _call(self, name, args, kwargs):
        return self._build(name, args, kwargs)

    def _build(self, name, args, kwargs, meta=None):
        from shoal.dataframe.core import map_partitions, no_default

        return map_partitions(methods.accessor_call, self._series, self._name, name, args, kwargs,
                              meta=no_default if meta is None else meta,
                              token=f"{self._name}-{name}")


class DatetimeAccessor(_Accessor):
    """``s.dt``: pandas' datetime/timedelta/period properties and methods, per partition."""

    _name = "dt"
    _from_meta = frozenset({"tz", "unit"})
    _renamed = {"dayofweek": "day_of_week", "weekday": "day_of_week",
                "dayofyear": "day_of_year", "daysinmonth": "days_in_month"}
    _unsupported = {
        "freq": "the frequency is a property of the whole column; compute first",
        "to_pydatetime": "returns a numpy array, not a Series; use .compute().dt.to_pydatetime()",
    }


class StringAccessor(_Accessor):
    """``s.str``: pandas' string methods, per partition (``s.str[0]`` too)."""

    _name = "str"
    _unsupported = {
        "get_dummies": "the output columns depend on all the data; use map_partitions with meta=",
    }

    def _call(self, name, args, kwargs):
        if name == "cat" and (kwargs.get("others") is None and not args):
            raise NotImplementedError(".str.cat() without others= joins the whole column into "
                                      "one string; compute first")
        if name in ("split", "rsplit"):
            bound = inspect.signature(getattr(pd.Series.str, name)).bind_partial(None, *args, **kwargs)
            expand, n = bound.arguments.get("expand", False), bound.arguments.get("n", -1)
            if expand:
                if n is None or n < 1:
                    raise NotImplementedError(f".str.{name}(expand=True) needs n= (the number of "
                                              "splits), because the columns depend on the data")
                dtype = self._series.dtype
                meta = pd.DataFrame({i: pd.Series([], dtype=dtype) for i in range(n + 1)},
                                    index=self._series._meta.index)
                return self._build(name, args, kwargs, meta=meta)
        return self._build(name, args, kwargs)

    def __getitem__(self, key):
        return self._build("__getitem__", (key,), {})


class CategoricalAccessor(_Accessor):
    """``s.cat``: codes and category edits per partition; categories from the metadata."""

    _name = "cat"
    _from_meta = frozenset({"categories", "ordered"})
    _unsupported = {
        "remove_unused_categories": "which categories are used depends on all the data",
    }

    @property
    def known(self) -> bool:
        """Whether the metadata knows the categories (``astype("category")`` does not)."""
        return len(self._meta_accessor.categories) > 0

    def __getattr__(self, name):
        if name == "codes" and not self.known:  # (each partition numbered its own: wrong)
            raise NotImplementedError(
                ".cat.codes with unknown categories (astype('category')): each partition "
                "would number its own categories, so a code would mean different values in "
                "different partitions; give the categories first, e.g. "
                "s.astype(pd.CategoricalDtype(categories))")  # fmt: skip
        return super().__getattr__(name)

    def as_known(self, **kwargs):
        """The Series with its categories computed from the data (now) and known."""
        from shoal.dataframe.reshape import as_known

        return as_known(self._series, **kwargs)

    def as_unknown(self):
        """The Series with its schema no longer listing the categories."""
        from shoal.dataframe.reshape import as_unknown

        return as_unknown(self._series)

    def _call(self, name, args, kwargs):
        out = super()._call(name, args, kwargs)
        meta = out._meta
        if (self.known or name == "set_categories"
                or not isinstance(getattr(meta, "dtype", None), pd.CategoricalDtype)):  # fmt: skip
            return out
        # unknown categories stay unknown (add_categories, as_ordered... made its metadata's
        # look known, and .codes numbered each partition's own categories again)
        from shoal.dataframe.core import new_collection

        unknown = meta.cat.set_categories([])
        return new_collection(out._layers, out._name, unknown, out.divisions)
