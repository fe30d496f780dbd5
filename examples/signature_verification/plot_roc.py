#!/usr/bin/python3
"""ROC curves of `signature_verification eval --json` outputs, one panel per split.

    /usr/bin/python3 examples/signature_verification/plot_roc.py OUT.png A.json B.json C.json
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

out, files = sys.argv[1], sys.argv[2:]
fig, axes = plt.subplots(1, len(files), figsize=(4.2 * len(files), 4.2), squeeze=False)
for ax, f in zip(axes[0], files):
    m = json.load(open(f))
    name = f.rsplit("/", 1)[-1].split("_")[0].split(".")[0]
    for key, src, style, label in [
        ("skilled", "single_reference", "-", "skilled, 1 ref"),
        ("random", "single_reference", "-", "random, 1 ref"),
        ("skilled", "multi_reference", "--", "skilled, 5 refs"),
        ("random", "multi_reference", "--", "random, 5 refs"),
    ]:
        if src not in m or key not in m[src]:
            continue
        r = m[src][key]
        xs, ys = zip(*r["roc"])
        color = "#c0392b" if key == "skilled" else "#2471a3"
        ax.plot(xs, ys, style, color=color, label=f"{label} (EER {100 * r['eer']:.1f}%)")
    ax.plot([0, 1], [0, 1], ":", color="#999")
    ax.plot([0, 1], [1, 0], ":", color="#ccc")
    ax.set_title(f"split {name}: test writers " + " ".join(m.get("test_writers", [])), fontsize=8)
    ax.set_xlabel("false acceptance rate")
    ax.set_ylabel("true acceptance rate")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_aspect("equal")
fig.tight_layout()
fig.savefig(out, dpi=110)
print("wrote", out)
