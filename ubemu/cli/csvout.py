"""``--csv FILE``: a command's table as CSV, one row per table row, written as rows complete.

The header and the first row are written together through a temporary file and a rename
(:func:`~ubemu.cli.results.replace_atomically`), so a failed command leaves no file; every
later row is appended in one ``write`` of a whole line and flushed, so a job killed at any
moment leaves the rows done so far, each complete. Figures keep every digit (the table rounds
them for reading); a missing value is an empty field.
"""

import csv
import io
import os

from ..errors import UbemuError
from .results import check_writable, replace_atomically

#: The flag every command names in its errors.
FLAG = "--csv"


def add_csv_option(parser):
    """``--csv FILE`` on ``parser`` (a parser or an argument group)."""
    parser.add_argument("--csv", default=None, metavar="FILE.csv",
                        help="write the table as CSV, one row per table row, as rows complete")


def _line(values):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buf.getvalue()


class CsvWriter:
    """The CSV file of one command (nothing happens without a path).

    Parameters
    ----------
    path : str or None
    columns : sequence of str
        The header; every row gives a value per column (a dict missing one is refused).
    """

    def __init__(self, path, columns):
        self.path, self.columns, self.n_rows = path, tuple(columns), 0
        if path is not None:
            check_writable(path, FLAG)

    def add(self, row):
        """Write one row (a dict keyed by column, or a sequence in column order)."""
        self.add_all([row])

    def add_all(self, rows):
        """Write rows that completed together (a table printed at once) in one write."""
        if self.path is None or not rows:
            return
        text = "".join(_line(self._values(row)) for row in rows)
        if self.n_rows == 0:
            text = _line(self.columns) + text
            replace_atomically(self.path, lambda f: f.write(text), FLAG)
        else:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
                try:
                    os.write(fd, text.encode())
                finally:
                    os.close(fd)
            except OSError as exc:
                raise UbemuError(f"{FLAG}: cannot write {str(self.path)!r} "
                                 f"({exc.strerror or exc})") from None
        self.n_rows += len(rows)

    def _values(self, row):
        values = [row[c] for c in self.columns] if isinstance(row, dict) else list(row)
        if len(values) != len(self.columns):
            raise ValueError(f"CSV row of {len(values)} values for {len(self.columns)} columns")
        return values
