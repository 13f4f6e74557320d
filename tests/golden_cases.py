"""The golden suite: a fixed list of runs whose results (JSON minus wall time) must not change
unless a change of the model is intended and the file is regenerated on purpose.

``python tests/golden_cases.py --write`` regenerates ``tests/golden.json``;
``test_golden.py`` compares every case with it.
"""

import json
import sys
from pathlib import Path

DATA = Path(__file__).with_name("golden.json")

#: (collective, algorithm, topology, group, nbytes, dtype, op, verify, options)
TOPOS = [("ub-mesh-rack", None), ("switch:16@50GiBps/1us", None), ("ring:8@56GBps/100ns", None),
         ("ub-mesh-rack", "unit=board,at=8"), ("ub-mesh-pod", "one_per=rack"),
         ("full_mesh:4,full_mesh:4:trunk,switch:4:trunk", None),
         ("switch:8:oversub=2,switch:4:oversub=2", None)]
ALGOS = {
    "all_reduce": ["direct", "double_binary_tree", "halving_doubling", "hierarchical",
                   "multi_ring", "nhr", "recursive_doubling", "ring", "ring_bidir", "auto"],
    "all_gather": ["bruck", "direct", "halving_doubling", "hierarchical", "nhr",
                   "recursive_doubling", "ring", "ring_bidir", "auto"],
    "reduce_scatter": ["direct", "halving_doubling", "hierarchical", "nhr", "ring",
                       "ring_bidir", "auto"],
    "alltoall": ["bruck", "direct", "hierarchical", "multipath", "pairwise", "auto"],
    "broadcast": ["binary_tree", "ring"],
    "reduce": ["binary_tree", "ring"],
}


def cases():
    """Every golden case as a dict of ``simulate`` arguments."""
    out = []
    for topo, group in TOPOS:
        for coll, algos in ALGOS.items():
            for algo in algos:
                for nbytes in (3 * 2**20, 100_000):
                    out.append(dict(collective=coll, algorithm=algo, topology=topo,
                                    group=group, nbytes=nbytes, dtype="float32", op="sum",
                                    verify=False))
    extra = [("all_reduce", "ring", "bfloat16", "sum"), ("all_reduce", "hierarchical",
             "float16", "avg"), ("reduce_scatter", "nhr", "int32", "max"),
             ("all_gather", "bruck", "float64", "sum"), ("alltoall", "hierarchical",
             "int64", "sum"), ("all_reduce", "direct", "float32", "prod"),
             ("broadcast", "binary_tree", "bfloat16", "sum"), ("reduce", "ring", "int32",
             "min"), ("all_reduce", "auto", "bfloat16", "sum")]
    for coll, algo, dtype, op in extra:
        for topo in ("ub-mesh-rack", "switch:12"):
            out.append(dict(collective=coll, algorithm=algo, topology=topo, group=None,
                            nbytes=24_576, dtype=dtype, op=op, verify=True))
    # channels, pipelines, in-switch reduction and protocols on two DGX H100 nodes (issue 18)
    nvidia = [("all_reduce", "auto", {}), ("all_reduce", "ring", {"channels": 8}),
              ("all_reduce", "innet", {}), ("all_reduce", "hierarchical", {"chunk": 1 << 18}),
              ("all_reduce", "ring", {"protocol": "ll"}), ("all_gather", "auto", {}),
              ("reduce_scatter", "innet", {"chunk": 1 << 18})]
    for coll, algo, options in nvidia:
        for nbytes in (1 << 20, 100_000 * 16):
            out.append(dict(collective=coll, algorithm=algo, topology="dgx-h100-multinode",
                            group="start=0,count=16", nbytes=nbytes, dtype="float32", op="sum",
                            verify=False, **options))
    return out


def key(case):
    return json.dumps(case, sort_keys=True)


def run(case):
    """The record of one case: ``Result.to_dict()`` minus the wall time, or the error line."""
    import ubemu
    from ubemu.errors import UbemuError

    args = dict(case)
    group = args.pop("group")
    try:
        res = ubemu.simulate(args.pop("collective"), args.pop("nbytes"),
                             args.pop("topology"), group=group, **args)
    except UbemuError as exc:
        return {"error": str(exc)}
    d = res.to_dict()
    d.pop("wall_s")
    return json.loads(json.dumps(d, default=lambda o: o.tolist() if hasattr(o, "tolist")
                                 else sorted(o) if isinstance(o, (set, frozenset)) else str(o)))


def main(argv):
    if "--write" not in argv:
        print(__doc__)
        return 2
    DATA.parent.mkdir(exist_ok=True)
    doc = {key(c): run(c) for c in cases()}
    DATA.write_text(json.dumps(doc, indent=0, sort_keys=True) + "\n")
    print(f"wrote {len(doc)} cases to {DATA}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
