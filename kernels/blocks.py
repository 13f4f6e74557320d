"""Block offsets of a schedule step for every rank at once (hot in million-rank schedules)."""

from ._jit import kernel


@kernel
def shifted_blocks(pos, shift, parts, seg_off, seg_len, out_off, out_len):
    """Block ``(pos[i] - shift) mod parts`` of each rank's segment, cut as ``split_even`` does.

    ``pos`` lies in ``0..parts-1``. The first ``seg_len % parts`` blocks of a segment get one
    element more. Divisions are redone only when the segment length changes (it rarely does).
    """
    shift = shift % parts
    length = -1
    base = extra = 0
    for i in range(pos.size):
        b = pos[i] - shift
        if b < 0:
            b += parts
        if seg_len[i] != length:
            length = seg_len[i]
            base = length // parts
            extra = length - base * parts
        out_off[i] = seg_off[i] + b * base + min(b, extra)
        out_len[i] = base + (1 if b < extra else 0)
