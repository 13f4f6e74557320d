#!/usr/bin/env python3
"""Closed-form / tiny-fluid analytic model that reproduces SimGrid 3.32 SMPI timings
for the configurations of run_smpi.py (stdlib only).

The SMPI semantics encoded here (established from the SimGrid 3.32 sources and checked
against smpirun, see README.md):

* One message of m user bytes puts m + 16 bytes on the wire (SMPI adds a 16-byte
  "MPI envelope").  Alone on its route it takes   L + (m + 16) / B.
  (CM02 model, network/crosstraffic:0, TCP-gamma disabled: no other factor.)
* A flow first spends L in a latency phase during which it uses no bandwidth, then
  competes for bandwidth; concurrent flows share every link max-min fairly.
* The transfer starts when BOTH sides have posted (smpi/async-small-thresh:0).
* Sender overhead: MPI_Isend (and the isend inside MPI_Sendrecv) sleeps smpi/ois
  BEFORE posting the message; plain MPI_Send sleeps smpi/os only when the send is
  detached (size < smpi/send-is-detached-thresh).  The sleep blocks the calling rank,
  so k isends posted back to back cost k * ois and the j-th message enters the network
  at j * ois.
* Receiver overhead: smpi/or is slept by the receiving rank when it completes (wait /
  waitall / waitany) a receive whose sender was detached (message size <
  smpi/send-is-detached-thresh).  It is charged once per message, sequentially, after the
  data has arrived; meanwhile the rank's other transfers keep progressing.
  => run_smpi.py sets send-is-detached-thresh to 2^31-1 so that every message pays
     ois and or, and sets smpi/os = smpi/ois.
"""

ENVELOPE = 16  # bytes SMPI adds to every point-to-point payload
INT_MAX = 2**31 - 1


def msg_time(m, B, L, env=ENVELOPE):
    """Time of one isolated message of m bytes."""
    return L + (m + env) / B


def _flow_rate_share(B, core_bw, nflows_core, bw_factor=1.0, xt=1.0):
    """Bandwidth of one flow when every port carries one flow (ring step) and
    nflows_core flows cross the shared core (if any)."""
    r = B * bw_factor / xt
    if core_bw is not None:
        r = min(r, core_bw * bw_factor / (xt * nflows_core))
    return r


def allreduce_lr(n_bytes, q, B, L, o_s=0.0, o_r=0.0, core_bw=None, dtype_size=4,
                 detach_thresh=INT_MAX, bw_factor=1.0, lat_factor=1.0, xt=1.0):
    """SMPI 'lr' all-reduce (logical ring reduce-scatter + ring all-gather) on q ranks,
    each rank holding n_bytes, every rank on its own host of a star (optionally with a
    shared core of capacity core_bw crossed by all q concurrent ring flows).

    Message pattern: 2(q-1) steps; at every step each rank r does one MPI_Sendrecv:
    sends chunk of c = n/q bytes to (r+1) mod q and receives c bytes from (r-1) mod q.
    (plus one local self-copy at the start, which costs nothing in simulated time).
    Per step: ois (sleep before the isend is posted)  + L + (c+16)/rate  + or.
    """
    count = n_bytes // dtype_size
    if count % q:
        raise ValueError("lr all-reduce: count not divisible by ranks (SMPI then adds a "
                         "remainder all-reduce, not modelled)")
    c = (count // q) * dtype_size
    rate = _flow_rate_share(B, core_bw, q, bw_factor, xt)
    orr = o_r if c < detach_thresh else 0.0
    step = o_s + L * lat_factor + (c + ENVELOPE) / rate + orr
    return 2 * (q - 1) * step


def ps_completions(arrivals, size, bw):
    """Fluid processor sharing on one link of capacity bw: equal-size flows become active
    at `arrivals`; the n active flows get bw/n each.  Returns completion times."""
    pending = sorted(arrivals)
    t, i = 0.0, 0
    active = []  # remaining bytes
    done = []
    while len(done) < len(arrivals):
        nxt = pending[i] if i < len(pending) else float("inf")
        if active:
            rate = bw / len(active)
            rmin = min(active)
            tfin = t + rmin / rate
        else:
            rate, tfin = 0.0, float("inf")
        if nxt <= tfin:
            active = [r - rate * (nxt - t) for r in active]
            t = nxt
            active.append(float(size))
            i += 1
        else:
            active = [r - rate * (tfin - t) for r in active]
            t = tfin
            k = active.index(min(active))
            active.pop(k)
            done.append(t)
    return done


def alltoall_basic_linear(n_bytes, p, B, L, o_s=0.0, o_r=0.0, core_bw=None,
                          per_dest=False, detach_thresh=INT_MAX, bw_factor=1.0,
                          lat_factor=1.0, xt=1.0, return_detail=False):
    """SMPI 'basic_linear' all-to-all on p ranks (one per host).

    n_bytes is the per-rank send buffer (block b = n_bytes/p per destination) unless
    per_dest.  Pattern: each rank posts its p-1 irecvs (free), then its p-1 isends in the
    order rank-1, rank-2, ... (isend j is posted at j*ois), then MPI_Waitall.
    By symmetry every port carries the same number of flows at any time, so each flow's
    rate is (port share) B/n(t); with a shared core it is min(B, C/p)/n(t).
    The receive completions t_(1..p-1) come from fluid processor sharing; the rank then
    pays or once per received message, sequentially, starting when its waitall starts
    (after the last isend, at (p-1)*ois):
        T = max( (p-1)*ois + (p-1)*or ,  max_k  t_(k) + (p-k)*or ).
    """
    b = n_bytes if per_dest else n_bytes // p
    s = b + ENVELOPE
    link = B * bw_factor / xt
    if core_bw is not None:
        link = min(link, core_bw * bw_factor / (xt * p))
    arrivals = [j * o_s + L * lat_factor for j in range(1, p)]
    comp = sorted(ps_completions(arrivals, s, link))
    orr = o_r if b < detach_thresh else 0.0
    f = (p - 1) * o_s
    for t in comp:
        f = max(f, t) + orr
    T = max(f, comp[-1])
    if return_detail:
        return T, {"block": b, "arrivals": arrivals, "completions": comp,
                   "waitall_start": (p - 1) * o_s, "link_rate": link}
    return T


def alltoall_pairwise(n_bytes, p, B, L, o_s=0.0, o_r=0.0, detach_thresh=INT_MAX):
    """coll_bench's pairwise all-to-all: p-1 MPI_Sendrecv steps, at step k rank r sends its
    block to r+k and receives from r-k (the own block a memcpy, free). Every step is a
    permutation, one flow per port, in lock step: (p-1) (ois + L + (b+16)/B + or)."""
    b = n_bytes // p
    orr = o_r if b < detach_thresh else 0.0
    return (p - 1) * (o_s + L + (b + ENVELOPE) / B + orr)


def fanout(m, p, B, L, o_s=0.0, o_r=0.0, detach_thresh=INT_MAX):
    """Rank 0 posts p-1 MPI_Isend of m bytes (one per peer) and waits; the peers
    MPI_Recv.  All flows share rank 0's up-port."""
    arrivals = [j * o_s + L for j in range(1, p)]
    comp = ps_completions(arrivals, m + ENVELOPE, B)
    orr = o_r if m < detach_thresh else 0.0
    return max(max(comp) + orr, (p - 1) * o_s)


def p2p(m, B, L, o_s=0.0, o_r=0.0, detach_thresh=65536):
    """MPI_Send / MPI_Recv of m bytes (blocking send: os and or only if detached)."""
    if m < detach_thresh:
        return o_s + msg_time(m, B, L) + o_r
    return msg_time(m, B, L)


if __name__ == "__main__":
    # Print the predictions for the standard configurations.
    B, L = 50e9, 1e-6
    for os_, or_ in ((0.0, 0.0), (2e-6, 1e-6)):
        for P in (8, 16):
            for n in (64 << 10, 1 << 20, 16 << 20):
                print(f"P={P:2d} n={n:9d} os={os_:g} or={or_:g}  "
                      f"allreduce_lr={allreduce_lr(n, P, B, L, os_, or_) * 1e6:10.5f} us  "
                      f"alltoall_basic_linear="
                      f"{alltoall_basic_linear(n, P, B, L, os_, or_) * 1e6:10.5f} us")
    print("shared core 200 GB/s, 8 of 16 ranks, 16 MiB allreduce_lr:",
          f"{allreduce_lr(16 << 20, 8, B, L, core_bw=200e9) * 1e6:.5f} us")
