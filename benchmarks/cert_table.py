"""Print a certificate's results as a markdown table (what docs/verification.md quotes).

    python benchmarks/cert_table.py runs/split_mnist.certificate.json
"""
from __future__ import annotations

import sys

from split_mnist import per_task  # this folder is on sys.path when the script runs
from synthgen.certificate import load_certificate
from synthgen.verify import METHOD_ORDER


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
    print("\n".join(per_task([cert], "Final accuracy on each task's real test images: the synthetic data after the "
                                      "whole sequence (mean over the verifier's seeds), and the joint upper bound:")))


if __name__ == "__main__":
    main()
