"""Print a certificate's results as a markdown table (what docs/verification.md quotes).

    python benchmarks/cert_table.py runs/split_mnist.certificate.json
"""
from __future__ import annotations

import sys

from synthgen.certificate import load_certificate
from synthgen.verify import JOINT, METHOD_ORDER, SYNTHETIC


def main() -> None:
    cert = load_certificate(sys.argv[1])
    archs = list(cert["results"])
    present = set(next(iter(cert["results"].values()))["methods"])
    methods = [m for m in METHOD_ORDER if m in present]
    print(f"Verdict: **{cert['verdict'].upper()}** ({'; '.join(cert['reasons'])}); "
          f"verify wall time inside the library: {cert['environment']['wall_time_s']} s; seeds {cert['protocol']['seeds']}\n")
    print("| method | " + " | ".join(f"{a} ({cert['results'][a]['group']})" for a in archs) + " |")
    print("|---|" + "---|" * len(archs))
    for m in methods:
        cells = []
        for a in archs:
            s = cert["results"][a]["methods"][m]
            forg = f" (forg. {s['max_forgetting_mean']:.3f})" if "max_forgetting_mean" in s else ""
            cells.append(f"{s['acc_mean']:.3f}{forg}")
        print(f"| {m} | " + " | ".join(cells) + " |")
    per_task_table(cert)


def per_task_table(cert: dict) -> None:
    """Final accuracy on each task: the synthetic data (after the whole sequence) next to the joint bound."""
    if JOINT not in next(iter(cert["results"].values()))["methods"]:
        return
    names = ["/".join(map(str, t)) for t in cert["source"]["tasks"]]
    print("\nFinal accuracy on each task's real test images: synthetic data after the whole sequence, "
          "and the joint upper bound\n")
    print("| arch | method | " + " | ".join(f"task {n}" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for arch, r in cert["results"].items():
        for m in (SYNTHETIC, JOINT):
            if "per_task_final" in r["methods"][m]:
                print(f"| {arch} | {m} | " + " | ".join(f"{v:.3f}" for v in r["methods"][m]["per_task_final"]) + " |")


if __name__ == "__main__":
    main()
