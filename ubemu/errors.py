"""The one error type ubemu raises for bad user input."""


class UbemuError(ValueError):
    """Bad input: the message is one line naming the source, the field and the valid choices.

    The command line prints it as ``ubemu: error: <message>`` and exits with status 2.
    """


def choices_error(what, value, valid, source=""):
    """Build an error for an unknown name: ``unknown algorithm 'rign'; valid: ring, ...``."""
    where = f"{source}: " if source else ""
    return UbemuError(f"{where}unknown {what} {value!r}; valid: {', '.join(valid)}")
