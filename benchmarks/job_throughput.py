"""Job throughput: 20,000 full-resolution photos classified three ways, as `catdog-run --out` jobs.

The shared fullres_sample photos (200 original Kaggle JPEGs) are repeated under distinct names,
as symbolic links in a temporary folder, until there are `--photos` of them. Then, `--rounds`
times, interleaved so that every way sees the same machine:

  plain     one `catdog-run FOLDER --out results.jsonl` process, start to exit
  resumed   the same process killed with SIGKILL once half the records are written, then
            `--resume` to the end; the time is both processes together, and the file is checked
            to hold exactly one record per photo
  ray       Ray Data in this process (`catdog.runtime.ray`) with `--actors` actors on a local
            Ray: the start-up (`ray.init`) alone, a small job (`--small` photos) and the whole
            job; "once started" is the marginal rate (whole - small photos over whole - small
            seconds), which leaves out Ray's and the actors' fixed costs

Also a plain run of `--small` photos, so that the plain process has a marginal rate too.
The machine is shared: each run records the 1-minute load average and the CPUs' idle share
just before it. Results go to benchmarks/results/job_throughput.{json,md}.

    .venv/bin/python benchmarks/job_throughput.py --rounds 3
"""

from __future__ import annotations

import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import click

from catdog.measure.machine import describe_machine, idle_percent
from catdog.runtime.models import default_model_path
from catdog.runtime.sources import list_folder
from results_io import write_results  # benchmarks/ is the script's own folder

# ../shared beside the clone (or beside the folder of worktrees a clone's worktree sits in).
PHOTOS = next((parent / "shared" / "datasets" / "cats_and_dogs" / "fullres_sample"
               for parent in Path(__file__).resolve().parents[2:4]
               if (parent / "shared" / "datasets" / "cats_and_dogs" / "fullres_sample").is_dir()),
              Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cats_and_dogs" / "fullres_sample")
RESULTS = Path(__file__).resolve().parent / "results" / "job_throughput"
WAYS = ("plain", "resumed", "ray", "plain_small", "ray_read_binary_files")
CLI = [sys.executable, "-m", "catdog.runtime.cli"]


def make_folder(root: Path, originals: list[Path], *, count: int) -> Path:
    """`count` links with distinct names to the originals, in one folder."""
    folder = root / f"photos{count}"
    folder.mkdir()
    for index in range(count):
        original = originals[index % len(originals)]
        (folder / f"{index:05d}_{original.name}").symlink_to(original.resolve())
    return folder


def children_cpu_seconds() -> float:
    """CPU seconds of this process's finished (waited-for) children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def descendant_times(*, running_only: bool = False) -> dict[int, float]:
    """CPU seconds of every live descendant of this process (Ray's raylet, GCS and workers), from /proc;
    without the exited ones not yet reaped (zombies) if `running_only`."""
    parents, times = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        if running_only and fields[0] in ("Z", "X"):
            continue
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    found, me = {}, os.getpid()
    for pid, seconds in times.items():
        ancestor = parents.get(pid)
        while ancestor not in (None, 0, 1):
            if ancestor == me:
                found[pid] = seconds
                break
            ancestor = parents.get(ancestor)
    return found


class RayCpu:
    """CPU seconds of this process and its Ray processes, sampled every 0.1 s so that actors that exit
    when a job ends (Ray Data tears its actor pool down) still count with their last sample."""

    def __init__(self):
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        for pid, seconds in descendant_times().items():
            self.first.setdefault(pid, 0.0)
            self.last[pid] = seconds

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            self.sample()

    def seconds(self) -> float:
        """CPU seconds so far (descendants since they appeared, plus this process)."""
        self.sample()
        return time.process_time() + sum(self.last[pid] - self.first[pid] for pid in self.last)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


def conditions() -> dict:
    return {"load_average": round(os.getloadavg()[0], 2), "idle_percent": idle_percent(1.0)}


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return handle.read().count(b"\n")
    except FileNotFoundError:
        return 0


def check_exactly_once(out: Path, folder: Path) -> None:
    sources = [json.loads(line)["source"] for line in out.read_text().splitlines()]
    expected = sorted(str(path) for path in list_folder(folder))
    if sorted(sources) != expected:
        raise SystemExit(f"{out}: {len(sources)} records, {len(set(sources))} distinct, {len(expected)} photos")


def run_plain(folder: Path, out: Path, model: Path) -> dict:
    row = conditions()
    started, cpu = time.perf_counter(), children_cpu_seconds()
    subprocess.run([*CLI, str(folder), "--model", str(model), "--out", str(out)], check=True,
                   stderr=subprocess.DEVNULL)
    row["seconds"] = time.perf_counter() - started
    row["cpu_seconds"] = children_cpu_seconds() - cpu
    check_exactly_once(out, folder)
    return row


def run_resumed(folder: Path, out: Path, model: Path, *, total: int) -> dict:
    row = conditions()
    started, cpu = time.perf_counter(), children_cpu_seconds()
    process = subprocess.Popen([*CLI, str(folder), "--model", str(model), "--out", str(out)],
                               stderr=subprocess.DEVNULL)
    lines = 0
    while not out.exists() and process.poll() is None:
        time.sleep(0.005)
    with open(out, "rb") as growing:  # count only the new bytes: polling must not steal the job's CPU
        while process.poll() is None and lines < total // 2:
            lines += growing.read().count(b"\n")
            time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    row["killed_at_records"] = count_lines(out)
    row["torn_last_line"] = not out.read_bytes().endswith(b"\n")
    row["first_seconds"] = time.perf_counter() - started
    resumed = time.perf_counter()
    subprocess.run([*CLI, str(folder), "--model", str(model), "--out", str(out), "--resume"], check=True,
                   stderr=subprocess.DEVNULL)
    row["resume_seconds"] = time.perf_counter() - resumed
    row["seconds"] = time.perf_counter() - started
    row["cpu_seconds"] = children_cpu_seconds() - cpu
    check_exactly_once(out, folder)
    return row


def run_ray(folders: dict[str, Path], root: Path, model: Path, *, actors: int, batch_size: int,
            read_bytes: bool = False) -> dict:
    from catdog.runtime.ray import classify_on_ray, connect, count_records, require_ray

    row = conditions()
    meter = RayCpu()
    started, cpu = time.perf_counter(), meter.seconds()
    connect("local", num_cpus=os.cpu_count())
    row["startup_seconds"] = time.perf_counter() - started
    row["startup_cpu_seconds"] = meter.seconds() - cpu
    try:
        for name in ("small", "whole"):
            out = Path(tempfile.mkdtemp(dir=root, prefix=f"ray-{name}-"))
            began, cpu = time.perf_counter(), meter.seconds()
            classify_on_ray([str(folders[name])], out=out, model=model, actors=actors, batch_size=batch_size,
                            ship_model=False, read_bytes=read_bytes)
            row[f"{name}_seconds"] = time.perf_counter() - began
            time.sleep(0.3)  # the actors' last CPU samples
            row[f"{name}_cpu_seconds"] = meter.seconds() - cpu
            count, errors = count_records(out)
            expected = len(list_folder(folders[name]))
            if count != expected or errors:
                raise SystemExit(f"Ray wrote {count} records ({errors} errors) for {expected} photos")
    finally:
        require_ray().shutdown()
        meter.stop()
        deadline = time.monotonic() + 15  # the next run must not share the cores with Ray's exiting processes
        while descendant_times(running_only=True) and time.monotonic() < deadline:
            time.sleep(0.2)
    row["seconds"] = time.perf_counter() - started
    return row


def summarise(report: dict) -> dict:
    photos, small = report["photos"], report["small"]
    median = lambda key, way: statistics.median(row[key] for row in report["runs"][way])  # noqa: E731
    plain = median("seconds", "plain")
    plain_small = median("seconds", "plain_small")
    ray_marginal = (photos - small) / (median("whole_seconds", "ray") - median("small_seconds", "ray"))
    plain_marginal = (photos - small) / (plain - plain_small)
    resumed = median("seconds", "resumed")
    return {
        "plain_photos_per_second": round(photos / plain, 1),
        "plain_marginal_photos_per_second": round(plain_marginal, 1),
        "resumed_photos_per_second": round(photos / resumed, 1),
        "resume_overhead_ratio": round(resumed / plain, 3),
        "resume_overheads_per_round": [round(r["seconds"] / p["seconds"], 3)
                                       for r, p in zip(report["runs"]["resumed"], report["runs"]["plain"])],
        "ray_startup_seconds": round(median("startup_seconds", "ray"), 2),
        "ray_startup_ratio": round(median("startup_seconds", "ray") / plain, 3),
        "ray_whole_job_photos_per_second": round(photos / median("whole_seconds", "ray"), 1),
        "ray_end_to_end_ratio": round(median("seconds", "ray") / plain, 3),
        "ray_marginal_photos_per_second": round(ray_marginal, 1),
        "ray_marginal_ratio_to_plain": round(ray_marginal / (photos / plain), 3),
        "ray_marginal_ratio_to_plain_marginal": round(ray_marginal / plain_marginal, 3),
        # CPU seconds per photo: what the work costs, whatever share of the cores other processes took.
        "plain_cpu_ms_per_photo": round(1000 * median("cpu_seconds", "plain") / photos, 3),
        "resumed_cpu_ms_per_photo": round(1000 * median("cpu_seconds", "resumed") / photos, 3),
        "resume_cpu_ratio": round(median("cpu_seconds", "resumed") / median("cpu_seconds", "plain"), 3),
        "resume_cpu_ratios_per_round": [round(r["cpu_seconds"] / p["cpu_seconds"], 3)
                                        for r, p in zip(report["runs"]["resumed"], report["runs"]["plain"])],
        "ray_startup_cpu_seconds": round(median("startup_cpu_seconds", "ray"), 2),
        "ray_whole_job_cpu_ms_per_photo": round(1000 * median("whole_cpu_seconds", "ray") / photos, 3),
        "ray_marginal_cpu_ms_per_photo": round(1000 * (median("whole_cpu_seconds", "ray")
                                                       - median("small_cpu_seconds", "ray")) / (photos - small), 3),
        "ray_read_binary_files_marginal_photos_per_second": round(
            (photos - small) / (median("whole_seconds", "ray_read_binary_files")
                                - median("small_seconds", "ray_read_binary_files")), 1),
        "ray_read_binary_files_marginal_cpu_ms_per_photo": round(
            1000 * (median("whole_cpu_seconds", "ray_read_binary_files")
                    - median("small_cpu_seconds", "ray_read_binary_files")) / (photos - small), 3),
        # plain CPU per photo over Ray's: the rate Ray would reach on the same cores, 1.0 = as fast.
        "ray_marginal_cpu_rate_ratio": round(median("cpu_seconds", "plain") / photos / (
            (median("whole_cpu_seconds", "ray") - median("small_cpu_seconds", "ray")) / (photos - small)), 3),
        "load_average_range": [min(row["load_average"] for rows in report["runs"].values() for row in rows),
                               max(row["load_average"] for rows in report["runs"].values() for row in rows)],
        "idle_percent_range": [min(row["idle_percent"] for rows in report["runs"].values() for row in rows),
                               max(row["idle_percent"] for rows in report["runs"].values() for row in rows)],
    }


def write_markdown(report: dict, path: Path) -> None:
    summary, machine = report["summary"], report["machine"]
    lines = [
        "# Job throughput: 20,000 photos as a plain, a killed-and-resumed and a Ray job", "",
        f"Command: `{report['command']}`", "",
        f"Machine: {machine['cpu']} ({machine['cpu_class']}), {machine['cores']} cores, {machine['platform']}. "
        f"{report['photos']:,} links to the {report['originals']} full-resolution fullres_sample JPEGs; "
        f"model `{report['model']}`; {report['rounds']} interleaved rounds, medians below.", "",
        f"Machine state: {summary['idle_percent_range'][0]}–{summary['idle_percent_range'][1]}% of the CPUs idle "
        "in the second before each run (what other work left free), and a 1-minute load average of "
        f"{summary['load_average_range'][0]}–{summary['load_average_range'][1]} (which also counts this "
        "benchmark's own runs of the minute before).", "",
        "| way | photos/s | ratio to plain (time) |", "|---|---|---|",
        f"| plain `catdog-run --out` | {summary['plain_photos_per_second']} | 1.000 |",
        f"| killed (SIGKILL) at half, then `--resume` | {summary['resumed_photos_per_second']} | "
        f"{summary['resume_overhead_ratio']} (per round: {', '.join(map(str, summary['resume_overheads_per_round']))}) |",
        f"| Ray, {report['actors']} actors, whole job after start-up | {summary['ray_whole_job_photos_per_second']} | "
        f"start-up {summary['ray_startup_seconds']} s = {summary['ray_startup_ratio']} of the plain run; "
        f"start-up + job {summary['ray_end_to_end_ratio']} |",
        f"| Ray once started (marginal: whole − {report['small']} photos) | {summary['ray_marginal_photos_per_second']} "
        f"| rate {summary['ray_marginal_ratio_to_plain']} of plain's "
        f"({summary['ray_marginal_ratio_to_plain_marginal']} of plain's own marginal rate, "
        f"{summary['plain_marginal_photos_per_second']} photos/s) |",
        f"| Ray with read_binary_files (the bytes through Ray's object store), once started | "
        f"{summary['ray_read_binary_files_marginal_photos_per_second']} | |", "",
        "`ray` is `catdog-run --ray`'s pipeline for local files (rows of paths, `from_items`; each actor reads "
        "its files); `ray_read_binary_files` the plain pipeline with `read_binary_files(..., include_paths=True)`, "
        "which object storage needs.", "",
        "CPU cost, which other processes on the machine do not change much (CPU seconds of the job's own "
        "processes, from getrusage and /proc, per photo):", "",
        "| way | CPU ms per photo |", "|---|---|",
        f"| plain | {summary['plain_cpu_ms_per_photo']} |",
        f"| killed and resumed | {summary['resumed_cpu_ms_per_photo']} ({summary['resume_cpu_ratio']} of plain) |",
        f"| Ray whole job (start-up apart: {summary['ray_startup_cpu_seconds']} CPU s) | "
        f"{summary['ray_whole_job_cpu_ms_per_photo']} |",
        f"| Ray once started (marginal) | {summary['ray_marginal_cpu_ms_per_photo']} |",
        f"| Ray with read_binary_files, once started (marginal) | "
        f"{summary['ray_read_binary_files_marginal_cpu_ms_per_photo']} |", "",
        "Goals: a resumed job at most 5% slower (ratio <= 1.05); Ray once started within 20% of the single "
        "process (rate >= 0.8).", "",
        "Every run, in order (seconds; load average and idle % just before it):", "",
        "| way | round | seconds | load | idle % | detail |", "|---|---|---|---|---|---|",
    ]
    for way, rows in report["runs"].items():
        for number, row in enumerate(rows, start=1):
            detail = {key: (round(value, 2) if isinstance(value, float) else value) for key, value in row.items()
                      if key not in ("seconds", "load_average", "idle_percent")}
            lines.append(f"| {way} | {number} | {row['seconds']:.2f} | {row['load_average']} | {row['idle_percent']} "
                         f"| {', '.join(f'{key} {value}' for key, value in detail.items())} |")
    lines += ["", report["verdict"], ""]
    path.write_text("\n".join(lines))


def verdict(summary: dict) -> str:
    """The goals judged twice: on wall time, and on CPU time, which other processes disturb less."""
    # Idle share in the second before each run: other work on the machine (the load average also counts
    # this benchmark's own previous runs, so it says nothing here).
    wall_noisy = summary["idle_percent_range"][0] < 80
    text = (f"Wall clock: the resumed job took {summary['resume_overhead_ratio']:.3f} of the plain job's time "
            f"(goal <= 1.05) and Ray once started ran at {summary['ray_marginal_ratio_to_plain']:.3f} of its rate "
            f"(goal >= 0.8). CPU time: the resumed job cost {summary['resume_cpu_ratio']:.3f} of the plain job's "
            f"CPU (per round: {', '.join(map(str, summary['resume_cpu_ratios_per_round']))}), and Ray once started "
            f"needs the CPU for {summary['ray_marginal_cpu_rate_ratio']:.3f} of the plain rate on the same cores, "
            f"after {summary['ray_startup_seconds']} s of start-up.")
    if wall_noisy:
        text += (" Noise dominates the wall-clock figures: other work kept the machine busy "
                 f"({summary['idle_percent_range'][0]}% idle at least, {summary['idle_percent_range'][1]}% at most, "
                 "before a run), so a process's share of the cores, not its "
                 "work, set its speed (a job with more busy processes, like Ray's, gets a larger share). "
                 "The CPU-time figures are the better guide, and they too vary by several percent between rounds.")
    return text


def rerender(path: Path) -> None:
    """Recompute the summary and Markdown of a saved report (after a change to this script's tables)."""
    report = json.loads(path.with_suffix(".json").read_text())
    report["summary"] = summarise(report)
    report["verdict"] = verdict(report["summary"])
    write_results(report, path.with_suffix(""), write_markdown=write_markdown)


@click.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Model file; default: the shipped int8 TFLite.")
@click.option("--photos", type=click.IntRange(min=400), default=20_000, show_default=True, help="Photos per job.")
@click.option("--small", type=click.IntRange(min=100), default=1_000, show_default=True,
              help="Photos of the small jobs that measure fixed costs.")
@click.option("--rounds", type=click.IntRange(min=1), default=2, show_default=True, help="Interleaved rounds.")
@click.option("--actors", type=click.IntRange(min=1), default=2, show_default=True, help="Ray actors.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Ray batch size.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True,
              help="Results path without suffix.")
def main(model, photos, small, rounds, actors, batch_size, out):
    """Measure plain, killed-and-resumed and Ray jobs over the same photos."""
    model = model or default_model_path()
    originals = list_folder(PHOTOS)
    report = {"command": " ".join(["python", "benchmarks/job_throughput.py", *sys.argv[1:]]),
              "machine": describe_machine(threads=os.cpu_count()), "photos": photos, "small": small,
              "originals": len(originals), "rounds": rounds, "actors": actors, "batch_size": batch_size,
              "model": os.path.relpath(model), "runs": {way: [] for way in WAYS}}
    with tempfile.TemporaryDirectory(prefix="catdog-jobs-") as temporary:
        root = Path(temporary)
        folders = {"whole": make_folder(root, originals, count=photos),
                   "small": make_folder(root, originals, count=small)}
        run_plain(folders["small"], root / "warmup.jsonl", model)  # page cache and first imports
        for number in range(rounds):
            for way in WAYS[number % 4:] + WAYS[:number % 4]:  # a different order each round
                target = root / f"{way}{number}.jsonl"
                if way == "plain":
                    row = run_plain(folders["whole"], target, model)
                elif way == "plain_small":
                    row = run_plain(folders["small"], target, model)
                elif way == "resumed":
                    row = run_resumed(folders["whole"], target, model, total=photos)
                else:
                    row = run_ray(folders, root, model, actors=actors, batch_size=batch_size,
                                  read_bytes=way == "ray_read_binary_files")
                report["runs"][way].append(row)
                print(f"round {number + 1} {way}: {row['seconds']:.2f} s (load {row['load_average']}, "
                      f"idle {row['idle_percent']}%)", file=sys.stderr, flush=True)
    report["summary"] = summarise(report)
    report["verdict"] = verdict(report["summary"])
    print(write_results(report, out, write_markdown=write_markdown))
    print(report["verdict"])


if __name__ == "__main__":
    main()
