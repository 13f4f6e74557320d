"""The one error type ubemu raises for bad user input, and the message of an unknown name."""

import difflib
import functools
import inspect


class UbemuError(ValueError):
    """Bad input: the message is one line naming the source, the field and the valid choices.

    The command line prints it as ``ubemu: error: <message>`` and exits with status 2.
    """


def close_names(value, valid, n_max=3, cutoff=0.6, spread=0.05):
    """The valid names closest to a misspelt ``value`` (case-insensitive), best first.

    Names as close as the best one (within ``spread``) are kept, so one clear winner is
    suggested alone and a tie gives two or three.

    Parameters
    ----------
    value : object
        The name that was not found; anything but a non-empty string has no close names.
    valid : iterable of str
        The names that would have been accepted.
    n_max : int
        At most this many suggestions.
    cutoff : float
        Least :class:`difflib.SequenceMatcher` ratio (0..1) of a suggestion.
    spread : float
        Largest shortfall of a suggestion's ratio from the best one's.

    Returns
    -------
    list of str
    """
    if not isinstance(value, str) or not value.strip():
        return []
    by_lower = {}
    for name in map(str, valid):
        by_lower.setdefault(name.lower(), name)
    matcher = difflib.SequenceMatcher(b=value.strip().lower())
    scored = []
    for low, name in by_lower.items():
        matcher.set_seq1(low)
        ratio = matcher.ratio()
        if ratio >= cutoff and name != value:
            scored.append((-ratio, name))
    scored.sort()
    return [name for r, name in scored[:n_max] if -r >= -scored[0][0] - spread]


def did_you_mean(value, valid, cutoff=0.6):
    """``"did you mean 'ring'? "`` (or ``'a' or 'b'``) for a misspelt name; ``""`` if none."""
    close = [repr(c) for c in close_names(value, valid, cutoff=cutoff)]
    if not close:
        return ""
    names = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
    return f"did you mean {names}? "


def choices_error(what, value, valid, source=""):
    """Build the error for an unknown name, one line.

    ``unknown preset 'ub-mesh-rak'; did you mean 'ub-mesh-rack'? valid: cloudmatrix384, ...``

    Parameters
    ----------
    what : str
        What the name names (``"preset"``, ``"all_reduce algorithm (--algo)"``).
    value : object
        The name given.
    valid : iterable of str
        The names accepted, in the order to list them.
    source : str, optional
        Where the name was read (``"rack.toml: level 2"``), put first.

    Returns
    -------
    UbemuError
    """
    valid = [str(v) for v in valid]
    where = f"{source}: " if source else ""
    return UbemuError(f"{where}unknown {what} {value!r}; {did_you_mean(value, valid)}"
                      f"valid: {', '.join(valid)}")


def keyword_names(fn):
    """The names ``fn`` takes as keywords (not ``*args``/``**kwargs``), in order."""
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def unknown_keyword(caller, key, valid, options=(), options_of=None):
    """The error for a keyword ``caller`` does not take, one line: ``plan(): unknown keyword
    'topolgy'; did you mean 'topology'? valid: model, plan, topology, flops_per_npu``.

    ``options``: the keywords passed on to an algorithm's builder that would have been
    valid too, listed apart as the options of ``options_of`` (``"all_reduce algorithm
    'ring'"``)."""
    message = (f"{caller}(): unknown keyword {key!r}; "
               f"{did_you_mean(key, [*valid, *options])}valid: {', '.join(valid)}")
    if options_of is not None:
        message += (f"; options of {options_of}: {', '.join(options)}" if options
                    else f"; {options_of} takes no options")
    return UbemuError(message)


def keywords_checked(fn):
    """Decorator of a public function: a keyword argument it does not take is a one-line
    :class:`UbemuError` naming it, with the closest names and the valid ones (instead of
    Python's ``TypeError``). For functions without ``**kwargs``."""
    valid = keyword_names(fn)

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        for key in kwargs:
            if key not in valid:
                raise unknown_keyword(fn.__name__, key, valid)
        return fn(*args, **kwargs)

    return checked
