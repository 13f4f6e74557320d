"""The one parser of comma lists of names: ``--algo``, ``-d``, ``-o``, ``--per-level``.

``parse_names("ring,direct", ["auto", "direct", "ring"], flag="--algo", what="algorithm")``
returns ``["ring", "direct"]``; an unknown or empty name raises a one-line
:class:`~ubemu.errors.UbemuError` naming the flag, the name and the valid choices (with a
"did you mean" when one is close).
"""

from ..errors import UbemuError, choices_error


def parse_names(text, valid, flag, what, aliases=None, all_word=None, unique=True,
                fold_case=False):
    """Split a comma list of names and check each against ``valid``.

    Parameters
    ----------
    text : str
        The flag's value, e.g. ``"float,bf16"``.
    valid : sequence of str
        The names accepted, in the order error messages list them.
    flag : str
        The flag as the user typed it (``"-d/--datatype"``), named in errors.
    what : str
        What a name names (``"datatype"``, ``"all_reduce algorithm"``).
    aliases : dict of str to str, optional
        Other spellings accepted and the valid name each stands for (nccl-tests' ``half``).
    all_word : str, optional
        A word standing for every valid name (``"all"``), alone in the list.
    unique : bool
        Drop repeated names, keeping the first (``--per-level ring,ring`` keeps both).
    fold_case : bool
        Compare names in lower case (data types).

    Returns
    -------
    list of str
        Valid names (aliases resolved), in the order given.
    """
    aliases = aliases or {}
    items = [name.strip() for name in str(text).split(",")]
    if all_word is not None and items == [all_word]:
        return list(valid)
    out = []
    for name in items:
        key = name.lower() if fold_case else name
        key = aliases.get(key, key)
        if not name:
            raise UbemuError(f"{flag}: empty name in {text!r}; give names separated by commas")
        if key not in valid:
            shown = [*valid, *aliases, *([all_word] if all_word else [])]
            raise choices_error(f"{what} ({flag})", name, shown)
        out.append(key)
    return list(dict.fromkeys(out)) if unique else out
