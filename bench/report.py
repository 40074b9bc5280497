"""The bench's report: the tables, and the issue's ratios each with its target."""

from __future__ import annotations

from harness import WORKLOADS, Result


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if value == float("inf"):
        return "timeout"
    return f"{value:,.{digits}f}"


def report(results: list[Result], n: int) -> None:
    print(f"\n{n:,} tasks per run; rates in tasks/s (median of runs), idle start in ms, RSS in MiB\n")
    head = [
        "system",
        "enqueue 1-by-1",
        "enqueue batch",
        "drain c=1",
        "drain defaults",
        "idle start",
        "peak RSS",
    ]
    rows = [
        [
            r.name,
            fmt(r.enqueue),
            fmt(r.enqueue_batch),
            fmt(r.drain_1),
            fmt(r.drain_defaults),
            fmt(r.idle_start_ms, 1),
            fmt(r.peak_rss_mib, 1),
        ]
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                str(cell).ljust(w) if i == 0 else str(cell).rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print()
    for r in results:
        for note in r.notes:
            print(f"  {r.name}: {note}")

    labels = sorted({label for r in results for (_, label) in r.drains})
    for workload in WORKLOADS:
        print(f"\ndrain, {workload} task (tasks/s, median of runs):")
        head2 = ["system", *labels]
        rows2 = [[r.name, *(fmt(r.drains.get((workload, label))) for label in labels)] for r in results]
        widths2 = [max(len(str(row[i])) for row in [head2, *rows2]) for i in range(len(head2))]
        for row in [head2, ["-" * w for w in widths2], *rows2]:
            print(
                "  ".join(
                    str(c).ljust(w) if i == 0 else str(c).rjust(w)
                    for i, (c, w) in enumerate(zip(row, widths2, strict=True))
                )
            )

    print("\nTargets (issue 20's 'done when', ratios of medians from this run):")
    for label, value, target, kind in checks(results):
        if value is None:
            print(f"  {label:<58} {'-':>9}  (not measured)")
            continue
        met = value <= target if kind == "<=" else value >= target
        shown = f"{value:.2f}" + ("x" if kind == "x" else "")
        wanted = f">= {target:g}x" if kind == "x" else f"<= {target:g}"
        print(f"  {label:<58} {shown:>9}  (target {wanted}): {'MET' if met else 'MISSED'}")


Check = tuple[str, "float | None", float, str]


def _ratio(
    a: Result | None, a_key: tuple[str, str], b: Result | None, b_key: tuple[str, str]
) -> float | None:
    if a is None or b is None or a_key not in a.drains or b_key not in b.drains:
        return None
    return a.drains[a_key] / b.drains[b_key]


def checks(results: list[Result]) -> list[Check]:
    """Each target as (label, measured value or None, target, "x" for at least / "<=" for at most)."""
    by = {r.name.split(" (")[0]: r for r in results}
    ours, sqlite = by.get("Alligator Redis"), by.get("Alligator SQLite")
    huey, sqlite_huey, alone = by.get("Huey"), by.get("SqliteHuey"), by.get("round trip alone, no queue")
    peers = [p for p in (by.get("Dramatiq"), by.get("taskiq")) if p and ("roundtrip", "defaults") in p.drains]
    best = max(peers, key=lambda p: p.drains[("roundtrip", "defaults")]) if peers else None
    peer = best.name.split(" (")[0] if best else "-"
    out: list[Check] = [
        (
            f"roundtrip: latergator no flags vs best peer's defaults ({peer})",
            _ratio(ours, ("roundtrip", "no flags"), best, ("roundtrip", "defaults")),
            1.5,
            "x",
        ),
    ]
    for workload in WORKLOADS:
        out.append(
            (
                f"{workload}: drain c=1 vs Huey",
                _ratio(ours, (workload, "c=1"), huey, (workload, "c=1")),
                3.0,
                "x",
            )
        )
    out.append(
        (
            "roundtrip: drain c=1 vs the round trip alone",
            _ratio(ours, ("roundtrip", "c=1"), alone, ("roundtrip", "c=1")),
            0.73,
            "x",
        )
    )
    out.append(("enqueue 1-by-1 vs bare LPUSH (paired runs)", ours.vs_bare if ours else None, 0.9, "x"))
    if ours and ours.backend_vs_bare:
        out.append(("(backend.push alone vs bare LPUSH)", ours.backend_vs_bare, 0.9, "x"))
    sqlite_enqueue = None
    if sqlite and sqlite_huey and sqlite.enqueue and sqlite_huey.enqueue:
        sqlite_enqueue = sqlite.enqueue / sqlite_huey.enqueue
    out.append(("SQLite: enqueue 1-by-1 vs SqliteHuey", sqlite_enqueue, 1.0, "x"))
    out.append(
        (
            "SQLite noop: drain c=1 vs SqliteHuey",
            _ratio(sqlite, ("noop", "c=1"), sqlite_huey, ("noop", "c=1")),
            2.5,
            "x",
        )
    )
    postgres, procrastinate = by.get("Alligator PostgreSQL"), by.get("Procrastinate")
    out.append(
        (
            "PostgreSQL: enqueue 1-by-1 vs Procrastinate (paired runs)",
            procrastinate.vs_peer if procrastinate else None,
            1.0,
            "x",
        )
    )
    for label in ("c=1", "defaults"):
        out.append(
            (
                f"PostgreSQL noop: drain {label} vs Procrastinate {label}",
                _ratio(postgres, ("noop", label), procrastinate, ("noop", label)),
                2.0,
                "x",
            )
        )
    out.append(
        ("worker peak RSS per process (MiB, at most)", ours.peak_rss_mib if ours else None, 35.0, "<=")
    )
    # The bench's own targets from before issue 20.
    if ours and ours.batch_vs_single:
        out.append(("batch enqueue vs 1-by-1 (paired runs)", ours.batch_vs_single, 10.0, "x"))
    for workload in WORKLOADS:
        out.append(
            (
                f"{workload}: --processes 2 vs one process",
                _ratio(ours, (workload, "processes 2"), ours, (workload, "defaults")),
                1.6,
                "x",
            )
        )
        out.append(
            (
                f"{workload}: results on vs off (c=1)",
                _ratio(ours, (workload, "c=1"), ours, (workload, "c=1, results off")),
                0.9,
                "x",
            )
        )
    if ours and ours.supervisor_rss_mib is not None:
        out.append(("supervisor's own RSS (MiB, at most)", ours.supervisor_rss_mib, 15.0, "<="))
    if ours and ours.idle_start_ms is not None:
        out.append(("idle start (ms, at most)", ours.idle_start_ms, 10.0, "<="))
    return out
