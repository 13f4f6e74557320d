#!/usr/bin/env python3
"""Compile peer/coll_bench.c with smpicc, run it under SimGrid/SMPI (smpirun) on the
platforms of peer/platforms.py, compare with the analytic model of peer/analytic.py,
print a table and write peer/results.json.  Stdlib only.

    bash peer/install_simgrid.sh          # once (Debian: libsimgrid-dev, SimGrid 3.32)
    python3 peer/run_smpi.py              # the standard configurations (~15 min, 2 cores)
    python3 peer/run_smpi.py --extras     # + calibration / sensitivity runs
    python3 peer/run_smpi.py --with-barrier-sync   # + a column timed after a plain barrier

See peer/README.md for the model semantics and the meaning of every --cfg flag.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import analytic  # noqa: E402
import platforms  # noqa: E402

KiB, MiB = 1 << 10, 1 << 20
B_PORT = 50e9        # bytes/s per direction
L_E2E = 1e-6         # s, end-to-end
C_CORE = 200e9       # bytes/s, shared core
SIZES = (64 * KiB, 1 * MiB, 16 * MiB)
#: Ranks of the standard configurations, and the (os, or) overhead pairs (seconds): none,
#: send-dominated, receive only (the incast of issue 18), receive-dominated with a stagger.
RANKS = (8, 16, 64, 128, 256)
OVERHEADS = ((0.0, 0.0), (2e-6, 1e-6), (0.0, 1e-6), (0.5e-6, 2e-6))
COLLS = ("alltoall", "alltoall_pairwise", "allreduce")
#: Largest size per rank count: SMPI's lr all-reduce holds 2 x the buffer per rank in
#: temporaries (256 ranks x 16 MiB would need 8.4 GB), so 128 and 256 ranks stop at 4 MiB.
BIG_RANKS_MAX = 4 * MiB
#: Runs whose buffers would exceed this (all ranks together) share one copy (--shared,
#: unchecked): SMPI times the messages, not the data.
PRIVATE_MAX = 1 << 30
INT_MAX = 2**31 - 1


def pure_model_cfg(o_s=0.0, o_r=0.0, detach=INT_MAX):
    """The --cfg flags that make SMPI a pure latency/bandwidth (LogGP-like) model."""
    return [
        # network model: CM02 = max-min sharing, no correction factors (LV08/SMPI have
        # latency x13.01 / x11.6436, bandwidth x0.97 / x0.940694 ...); set them explicitly.
        "--cfg=network/model:CM02",
        "--cfg=network/latency-factor:1",
        "--cfg=network/bandwidth-factor:1",
        "--cfg=network/weight-S:0",
        # a flow must not also load the reverse direction (default: 5 % "ACK" traffic)
        "--cfg=network/crosstraffic:0",
        # TCP window bound rate <= gamma / (2 * latency): make it unreachable
        "--cfg=network/TCP-gamma:1e30",
        # no simulated time for the (real) computation between/inside MPI calls
        "--cfg=smpi/simulate-computation:no",
        "--cfg=smpi/host-speed:1Gf",
        "--cfg=smpi/cpu-threshold:-1",
        # MPI_Wtime() injects 1e-8 s by default
        "--cfg=smpi/wtime:0",
        # message protocol: transfer starts when both sides posted; every send detached
        # (=> smpi/or is charged for every message, MPI_Send returns after os)
        "--cfg=smpi/async-small-thresh:0",
        f"--cfg=smpi/send-is-detached-thresh:{detach}",
        # per-message software overheads: threshold:offset:per_byte
        f"--cfg=smpi/os:0:{o_s!r}:0",
        f"--cfg=smpi/ois:0:{o_s!r}:0",
        f"--cfg=smpi/or:0:{o_r!r}:0",
        # collective algorithms
        "--cfg=smpi/allreduce:lr",
        "--cfg=smpi/alltoall:basic_linear",
    ]


def find_tools():
    smpicc, smpirun = shutil.which("smpicc"), shutil.which("smpirun")
    if not smpicc or not smpirun:
        sys.stderr.write("smpicc/smpirun not found: run  bash peer/install_simgrid.sh  first\n")
        sys.exit(2)
    return smpicc, smpirun


def simgrid_version(smpirun):
    try:
        return subprocess.run([smpirun, "-version"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except Exception as e:  # pragma: no cover
        return f"unknown ({e})"


def build(smpicc, builddir):
    os.makedirs(builddir, exist_ok=True)
    exe = os.path.join(builddir, "coll_bench")
    src = os.path.join(HERE, "coll_bench.c")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        subprocess.run([smpicc, "-O2", "-o", exe, src], check=True)
    return exe


class Runner:
    def __init__(self, smpirun, exe, builddir, reps, style, verbose, timeout_s=3600):
        self.smpirun, self.exe, self.builddir = smpirun, exe, builddir
        self.timeout_s = timeout_s
        self.reps, self.style, self.verbose = reps, style, verbose
        self.pdir = os.path.join(builddir, "platforms")
        os.makedirs(self.pdir, exist_ok=True)

    def platform(self, p, core_bw=None, style=None, core_policy="SHARED"):
        style = style or self.style
        tag = f"star{p}" if core_bw is None else f"core{p}_{core_bw:g}_{core_policy}"
        pf = os.path.join(self.pdir, f"{tag}_{style}.xml")
        hf = os.path.join(self.pdir, f"hosts{p}.txt")
        platforms.write_platform(pf, p, B_PORT, L_E2E, core_bw=core_bw, style=style,
                                 core_policy=core_policy)
        platforms.write_hostfile(hf, p)
        return pf, hf

    def run(self, np_, pf, hf, cfg, args, sync="aligned"):
        cmd = [self.smpirun, "-np", str(np_), "-platform", pf, "-hostfile", hf, *cfg,
               self.exe, *[str(a) for a in args], "--sync", sync]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout_s,
                           cwd=self.builddir)
        wall = time.time() - t0
        line = next((l for l in r.stdout.splitlines() if l.startswith('{"coll"')), None)
        if r.returncode != 0 or line is None:
            raise RuntimeError(f"smpirun failed (rc={r.returncode}):\n{' '.join(cmd)}\n"
                               f"{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
        d = json.loads(line)
        d["wall_s"] = wall
        d["cmd"] = " ".join(cmd).replace(HERE, "peer")
        if self.verbose:
            print("   ", d["cmd"], file=sys.stderr)
        return d


def sizes(P):
    """The per-rank sizes run on ``P`` ranks."""
    return tuple(min(n, BIG_RANKS_MAX) if P >= 128 else n for n in SIZES)


def standard_configs():
    """(name, topology, P_hosts, ranks, even, coll, bytes, os, or)."""
    cfgs = []
    for o_s, o_r in OVERHEADS:
        for P in RANKS:
            for coll in COLLS:
                for n in sizes(P):
                    cfgs.append(dict(topology="star", hosts=P, even=False, coll=coll, bytes=n,
                                     os=o_s, orr=o_r))
    cfgs.append(dict(topology="shared-core", hosts=16, even=True, coll="allreduce", bytes=16 * MiB,
                     os=0.0, orr=0.0))
    return cfgs


def predict(c):
    core = C_CORE if c["topology"] == "shared-core" else None
    q = c["hosts"] // 2 if c["even"] else c["hosts"]
    if c["coll"] == "allreduce":
        return analytic.allreduce_lr(c["bytes"], q, B_PORT, L_E2E, c["os"], c["orr"], core_bw=core)
    if c["coll"] == "alltoall_pairwise":
        return analytic.alltoall_pairwise(c["bytes"], q, B_PORT, L_E2E, c["os"], c["orr"])
    return analytic.alltoall_basic_linear(c["bytes"], q, B_PORT, L_E2E, c["os"], c["orr"],
                                          core_bw=core)


def fmt_size(n):
    return f"{n // MiB} MiB" if n >= MiB else f"{n // KiB} KiB"


def cname(c):
    q = c["hosts"] // 2 if c["even"] else c["hosts"]
    top = "star" if c["topology"] == "star" else f"core{C_CORE / 1e9:g}G"
    alg = {"alltoall": "a2a/basic_linear", "alltoall_pairwise": "a2a/pairwise",
           "allreduce": "allreduce/lr"}[c["coll"]]
    ranks = f"{q}/{c['hosts']}even" if c["even"] else f"{q}"
    return (f"{top:9s} ranks={ranks:8s} {alg:17s} {fmt_size(c['bytes']):>7s} "
            f"os={c['os'] * 1e6:g}us or={c['orr'] * 1e6:g}us")


def bench_args(c, reps):
    """coll_bench's arguments for configuration ``c``: checked, or (buffers of every rank
    together above PRIVATE_MAX) on shared buffers."""
    q = c["hosts"] // 2 if c["even"] else c["hosts"]
    big = 2 * c["bytes"] * q > PRIVATE_MAX
    return ([c["coll"], c["bytes"], reps, "--shared" if big else "--check"]
            + (["--even"] if c["even"] else []))


def run_standard(R, with_barrier, only, save=None, done=()):
    """Run the standard configurations (those whose name contains ``only``), printing each
    row and calling ``save(rows)`` after each, so that a killed run keeps what it did;
    ``done``: rows of an earlier run, kept and not run again."""
    kept = {r["name"]: r for r in done}
    rows = []
    for c in standard_configs():
        name = cname(c)
        if only and only not in name:
            continue
        if name in kept:
            rows.append(kept[name])
            continue
        core = C_CORE if c["topology"] == "shared-core" else None
        pf, hf = R.platform(c["hosts"], core)
        cfg = pure_model_cfg(c["os"], c["orr"])
        d = R.run(c["hosts"], pf, hf, cfg, bench_args(c, R.reps))
        pred = predict(c)
        row = dict(name=name, **{k: v for k, v in c.items() if k != "orr"}, **{"or": c["orr"]},
                   ranks=d["p"], block_bytes=d["block_bytes"], smpi_s=d["min_s"],
                   smpi_max_s=d["max_s"], analytic_s=pred,
                   rel_err=(d["min_s"] - pred) / pred, check=d["check"], reps=d["reps"],
                   wall_s=round(d["wall_s"], 2), cmd=d["cmd"])
        if with_barrier:
            db = R.run(c["hosts"], pf, hf, cfg, bench_args(c, R.reps), sync="barrier")
            row["smpi_barrier_sync_s"] = db["min_s"]
        rows.append(row)
        print_row(row, with_barrier)
        if save is not None:
            save(rows)
    return rows


def print_header(with_barrier):
    h = f"{'configuration':75s} {'SMPI [us]':>12s} {'analytic [us]':>13s} {'rel.err':>9s}"
    if with_barrier:
        h += f" {'SMPI barrier-sync [us]':>22s}"
    print(h)
    print("-" * len(h))


def print_row(r, with_barrier):
    s = (f"{r['name']:75s} {r['smpi_s'] * 1e6:12.5f} {r['analytic_s'] * 1e6:13.5f} "
         f"{r['rel_err']:9.1e}")
    if with_barrier:
        s += f" {r['smpi_barrier_sync_s'] * 1e6:22.5f}"
    if r.get("check") == "FAIL":
        s += "  RESULT CHECK FAILED"
    print(s, flush=True)


def run_extras(R):
    """Calibration and sensitivity runs: each with the analytic value it should give."""
    out = []

    def rec(name, d, pred, note=""):
        e = dict(name=name, smpi_s=d["min_s"], analytic_s=pred,
                 rel_err=(d["min_s"] - pred) / pred if pred else None, note=note, cmd=d["cmd"])
        out.append(e)
        ps = f"{pred * 1e6:13.5f}" if pred is not None else f"{'-':>13s}"
        print(f"{name:75s} {d['min_s'] * 1e6:12.5f} {ps}   {note}", flush=True)

    pf8, hf8 = R.platform(8)
    base = pure_model_cfg()
    # 1. point-to-point calibration: L + (m+16)/B
    for m in (0, 1000, 10**6):
        d = R.run(2, pf8, hf8, base, ["p2p", m, 1])
        rec(f"p2p MPI_Send {m} B, os=or=0", d, analytic.msg_time(m, B_PORT, L_E2E), "L + (m+16)/B")
    # 2. os/or on a blocking send: default detached threshold (65536) vs 2^31-1
    for m in (1000, 10**6):
        for det in (65536, INT_MAX):
            d = R.run(2, pf8, hf8, pure_model_cfg(2e-6, 1e-6, det), ["p2p", m, 1])
            rec(f"p2p MPI_Send {m} B, os=2us or=1us, detach-thresh={det}", d,
                analytic.p2p(m, B_PORT, L_E2E, 2e-6, 1e-6, det),
                "os/or only if m < send-is-detached-thresh")
    # 3. ois serializes the isends of one rank (fan-out of 7 isends from rank 0)
    for m in (1000, 10**6):
        d = R.run(8, pf8, hf8, pure_model_cfg(2e-6, 0.0), ["fanout", m, 1])
        rec(f"fanout: rank0 7x MPI_Isend {m} B, ois=2us", d,
            analytic.fanout(m, 8, B_PORT, L_E2E, 2e-6, 0.0), "isend j enters network at j*ois")
        cfg = [c for c in pure_model_cfg(0.0, 0.0) if not c.startswith("--cfg=smpi/os")]
        cfg.append("--cfg=smpi/os:0:2e-06:0")
        d = R.run(8, pf8, hf8, cfg, ["fanout", m, 1])
        rec(f"fanout: rank0 7x MPI_Isend {m} B, os=2us but ois=0", d,
            analytic.fanout(m, 8, B_PORT, L_E2E, 0.0, 0.0), "smpi/os is NOT used by MPI_Isend")
    # 4. the default detached threshold with os/or: or vanishes for big messages
    d = R.run(8, pf8, hf8, pure_model_cfg(2e-6, 1e-6, 65536), ["alltoall", 16 * MiB, 1])
    rec("a2a 8 ranks 16 MiB os=2us or=1us, detach-thresh=65536 (default)", d,
        analytic.alltoall_basic_linear(16 * MiB, 8, B_PORT, L_E2E, 2e-6, 1e-6, detach_thresh=65536),
        "block 2 MiB >= 65536: no or")
    # 5. cluster tag vs explicit Full routing: identical
    for style in ("cluster", "full"):
        pf, hf = R.platform(16, style=style)
        d = R.run(16, pf, hf, base, ["alltoall", 16 * MiB, 1])
        rec(f"a2a 16 ranks 16 MiB star, platform style={style}", d,
            analytic.alltoall_basic_linear(16 * MiB, 16, B_PORT, L_E2E))
        pf, hf = R.platform(16, C_CORE, style=style)
        d = R.run(16, pf, hf, base, ["allreduce", 16 * MiB, 1, "--even"])
        rec(f"allreduce 8/16 even 16 MiB shared core, platform style={style}", d,
            analytic.allreduce_lr(16 * MiB, 8, B_PORT, L_E2E, core_bw=C_CORE))
    # 6. shared core: all 16 ranks; and FATPIPE core (no sharing)
    pf, hf = R.platform(16, C_CORE)
    d = R.run(16, pf, hf, base, ["allreduce", 16 * MiB, 1])
    rec("allreduce 16 ranks 16 MiB shared core", d,
        analytic.allreduce_lr(16 * MiB, 16, B_PORT, L_E2E, core_bw=C_CORE),
        "C/16 = 12.5 GB/s per flow")
    d = R.run(16, pf, hf, base, ["alltoall", 16 * MiB, 1, "--even"])
    rec("a2a 8/16 even 16 MiB shared core", d,
        analytic.alltoall_basic_linear(16 * MiB, 8, B_PORT, L_E2E, core_bw=C_CORE),
        "min(B, C/8)/n per flow")
    pf, hf = R.platform(16, C_CORE, core_policy="FATPIPE")
    d = R.run(16, pf, hf, base, ["allreduce", 16 * MiB, 1, "--even"])
    rec("allreduce 8/16 even 16 MiB FATPIPE core", d,
        analytic.allreduce_lr(16 * MiB, 8, B_PORT, L_E2E), "FATPIPE = no contention")
    # 7. what the defaults do (16 MiB, 8 ranks, star)
    algos = ["--cfg=smpi/allreduce:lr", "--cfg=smpi/alltoall:basic_linear",
             "--cfg=smpi/simulate-computation:no", "--cfg=smpi/wtime:0"]
    variants = [
        ("SMPI model defaults", [], dict(lat_factor=11.6436, bw_factor=0.940694, xt=1.05)),
        ("LV08 defaults", ["--cfg=network/model:LV08"],
         dict(lat_factor=13.01, bw_factor=0.97, xt=1.05)),
        ("CM02 with crosstraffic (default on)", ["--cfg=network/model:CM02"], dict(xt=1.05)),
        ("SMPI model, factors set to 1, crosstraffic off",
         ["--cfg=smpi/bw-factor:0:1", "--cfg=smpi/lat-factor:0:1", "--cfg=network/weight-S:0",
          "--cfg=network/crosstraffic:0"], {}),
    ]
    for label, extra, kw in variants:
        for coll in ("allreduce", "alltoall"):
            d = R.run(8, pf8, hf8, algos + extra, [coll, 16 * MiB, 1])
            fn = analytic.allreduce_lr if coll == "allreduce" else analytic.alltoall_basic_linear
            rec(f"{coll} 8 ranks 16 MiB, {label}", d, fn(16 * MiB, 8, B_PORT, L_E2E, **kw),
                " ".join(f"{k}={v}" for k, v in kw.items()))
    d = R.run(8, pf8, hf8, ["--cfg=smpi/allreduce:lr"], ["allreduce", 16 * MiB, 1])
    rec("allreduce 8 ranks 16 MiB, SMPI defaults incl. simulate-computation:yes", d,
        analytic.allreduce_lr(16 * MiB, 8, B_PORT, L_E2E, lat_factor=11.6436,
                              bw_factor=0.940694, xt=1.05),
        "benchmarked host time leaks in")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=1,
                    help="timed repetitions per run (default 1: SMPI is deterministic here)")
    ap.add_argument("--build", default=os.path.join(HERE, "build"), help="build/work directory")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--style", choices=["cluster", "full"], default="cluster",
                    help="platform XML spelling (identical results)")
    ap.add_argument("--only", help="run only standard configurations whose name contains this")
    ap.add_argument("--extras", action="store_true", help="also run calibration/sensitivity runs")
    ap.add_argument("--with-barrier-sync", action="store_true",
                    help="also time every configuration after a plain MPI_Barrier")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the smpirun command lines")
    ap.add_argument("--resume", action="store_true",
                    help="keep the configurations --out already holds, run the others")
    ap.add_argument("--timeout", type=float, default=3600,
                    help="seconds one smpirun may take (default 3600; 256 ranks' linear "
                         "all-to-all takes minutes)")
    a = ap.parse_args(argv)

    smpicc, smpirun = find_tools()
    exe = build(smpicc, a.build)
    R = Runner(smpirun, exe, a.build, a.reps, a.style, a.verbose, a.timeout)
    done = []
    if a.resume and os.path.exists(a.out):
        with open(a.out) as f:
            done = json.load(f).get("results", [])
    version = simgrid_version(smpirun)
    print(f"# {version}; port B = {B_PORT:g} B/s, end-to-end L = {L_E2E:g} s, "
          f"core C = {C_CORE:g} B/s")
    print("# times = min over reps of (max over ranks of the collective's MPI_Wtime elapsed), "
          "ranks start aligned at the same simulated instant")
    print_header(a.with_barrier_sync)
    t0 = time.time()
    res = dict(simgrid=version, port_bw_Bps=B_PORT, latency_s=L_E2E, core_bw_Bps=C_CORE,
               cfg_os0=pure_model_cfg(), cfg_os2_or1=pure_model_cfg(2e-6, 1e-6),
               timing="min over reps of max over ranks of MPI_Wtime elapsed; aligned start",
               results=[], extras=[])

    def save(rows=None, extras=None):
        res["results"] = rows if rows is not None else res["results"]
        res["extras"] = extras if extras is not None else res["extras"]
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f, indent=1)
        os.replace(tmp, a.out)

    rows = run_standard(R, a.with_barrier_sync, a.only, save, done)
    if a.extras:
        print("\n# calibration / sensitivity runs")
        print(f"{'run':75s} {'SMPI [us]':>12s} {'analytic [us]':>13s}   note")
        save(extras=run_extras(R))
    save(rows)
    worst = max((abs(r["rel_err"]) for r in rows), default=0.0)
    print(f"\n# {len(rows)} configurations, worst |relative error| vs analytic = {worst:.2e}; "
          f"{time.time() - t0:.1f} s wall")
    print(f"# wrote {a.out}")
    return 0 if all(r["check"] != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
