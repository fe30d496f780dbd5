#!/usr/bin/python3
"""Mean +- sample std over splits of `signature_verification eval --json` outputs.

    /usr/bin/python3 examples/signature_verification/summarise.py A.json B.json C.json

Prints one line per metric: the value of each file, then mean +- std (as in the docs' tables).
"""
import json
import statistics
import sys

files = sys.argv[1:]
runs = [json.load(open(f)) for f in files]
rows = [
    ("skilled EER, 1 ref", lambda m: 100 * m["single_reference"]["skilled"]["eer"], "%"),
    ("random EER, 1 ref", lambda m: 100 * m["single_reference"]["random"]["eer"], "%"),
    ("skilled EER, 5 refs", lambda m: 100 * m["multi_reference"]["skilled"]["eer"], "%"),
    ("random EER, 5 refs", lambda m: 100 * m["multi_reference"]["random"]["eer"], "%"),
    ("skilled AUC, 1 ref", lambda m: m["single_reference"]["skilled"]["auc"], ""),
    ("random AUC, 1 ref", lambda m: m["single_reference"]["random"]["auc"], ""),
    ("skilled AUC, 5 refs", lambda m: m["multi_reference"]["skilled"]["auc"], ""),
    ("random AUC, 5 refs", lambda m: m["multi_reference"]["random"]["auc"], ""),
    ("validation EER", lambda m: 100 * m["val_eer"], "%"),
    ("accuracy at threshold, 1 ref", lambda m: 100 * m["single_reference"]["accuracy"], "%"),
    ("FRR, 1 ref", lambda m: 100 * m["single_reference"]["frr"], "%"),
    ("FAR skilled, 1 ref", lambda m: 100 * m["single_reference"]["skilled"]["far"], "%"),
    ("FAR random, 1 ref", lambda m: 100 * m["single_reference"]["random"]["far"], "%"),
    ("threshold", lambda m: m["single_reference"]["threshold"], ""),
]
for name, get, unit in rows:
    v = [get(m) for m in runs]
    fmt = "%.2f" if unit else "%.3f"
    each = " | ".join((fmt % x) + unit for x in v)
    agg = ""
    if len(v) > 1:
        agg = ("  %.1f ± %.1f%s" if unit else "  %.3f ± %.3f%s") % (statistics.mean(v), statistics.stdev(v), unit)
    print(f"{name:30s} {each}{agg}")
