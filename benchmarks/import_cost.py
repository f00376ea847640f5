"""What importing the provider adds to DAG parsing, over a bare ``import airflow.sdk``.

    python benchmarks/import_cost.py [--runs 7] [--python /path/to/venv/bin/python]

Each case is a fresh interpreter (``python -c ...``), timed end to end, ``--runs`` times; the
table shows medians, the cost over the baseline and the ratio. A second table comes from
``python -X importtime``: the cumulative import time of each of our modules once Airflow is
already loaded, which is what a DAG file that imports the operator pays.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def baseline_import(python: str) -> str:
    code = "import airflow.sdk"
    probe = subprocess.run([python, "-c", code], capture_output=True, check=False)
    return code if probe.returncode == 0 else "import airflow"  # Airflow 2 has no Task SDK


def base_classes(base: str) -> str:
    """What any DAG file using operators pays anyway: Airflow's DAG and base classes."""
    if base == "import airflow.sdk":
        return f"{base}; from airflow.sdk import DAG, BaseHook, BaseNotifier, BaseOperator"
    return (
        f"{base}; from airflow.models.dag import DAG; from airflow.models.baseoperator import BaseOperator; "
        "from airflow.hooks.base import BaseHook; from airflow.notifications.basenotifier import BaseNotifier"
    )


def cases(base: str) -> list[tuple[str, str]]:
    classes = base_classes(base)
    return [
        ("baseline: " + base, base),
        ("+ Airflow's DAG/BaseOperator/BaseHook/BaseNotifier", classes),
        ("+ operators.smtp2go", f"{base}; import airflow_provider_smtp2go.operators.smtp2go"),
        (
            "+ operator, hook, notifier, emailer",
            f"{base}; import airflow_provider_smtp2go.operators.smtp2go, airflow_provider_smtp2go.hooks.smtp2go, "
            "airflow_provider_smtp2go.notifications.smtp2go, airflow_provider_smtp2go.utils.emailer",
        ),
        (
            "if eager: + client (requests) and aio (httpx)",
            f"{base}; import airflow_provider_smtp2go.operators.smtp2go, airflow_provider_smtp2go.client, "
            "airflow_provider_smtp2go.client.aio",
        ),
    ]


def time_once(python: str, code: str) -> float:
    started = time.perf_counter()
    subprocess.run([python, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def importtime_rows(python: str, base: str) -> list[tuple[str, int, int]]:
    """(module, self us, cumulative us) for our modules, with Airflow's base classes already imported."""
    ours = "airflow_provider_smtp2go.operators.smtp2go, airflow_provider_smtp2go.notifications.smtp2go"
    code = f"{base_classes(base)}; import {ours}"
    stderr = subprocess.run([python, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True).stderr
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line[len("import time:") :].split("|")]
        if len(parts) != 3 or not parts[0].isdigit():
            continue
        name = parts[2].strip()
        if name.startswith("airflow_provider_smtp2go"):
            rows.append((name, int(parts[0]), int(parts[1])))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()

    version = subprocess.run(
        [args.python, "-c", "import airflow; print(airflow.__version__)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    base = baseline_import(args.python)
    all_cases = cases(base)
    time_once(args.python, all_cases[-1][1])  # warm the OS file cache and .pyc files
    samples: dict[str, list[float]] = {label: [] for label, _ in all_cases}
    for _ in range(args.runs):
        for label, code in all_cases:  # interleaved, so drift hits every case alike
            samples[label].append(time_once(args.python, code))

    baseline = statistics.median(samples[all_cases[0][0]])
    print(f"Airflow {version}, {args.runs} runs per case, median wall time of a fresh interpreter\n")
    print(f"{'case':<52} {'median ms':>10} {'over base ms':>13} {'ratio':>7}")
    print("-" * 86)
    for label, _ in all_cases:
        median = statistics.median(samples[label])
        print(f"{label:<52} {median * 1000:>10.1f} {(median - baseline) * 1000:>13.1f} {median / baseline:>7.3f}")

    print("\npython -X importtime, Airflow's base classes already imported (cumulative = what our import adds):\n")
    print(f"{'module':<52} {'self ms':>9} {'cumul. ms':>10}")
    print("-" * 73)
    for name, self_us, cumulative_us in importtime_rows(args.python, base):
        print(f"{name:<52} {self_us / 1000:>9.2f} {cumulative_us / 1000:>10.2f}")


if __name__ == "__main__":
    main()
