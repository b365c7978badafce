"""The benchmark's outputs: var/bench/<stamp>.json (every figure), <stamp>.md (the summary,
each figure against its target) and <stamp>.png (latency per level, gateway vs raw Rasa)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.gateways import section as gateway_section, targets as gateway_targets
from bench.metrics import ratio

NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Target:
    name: str
    value: str
    goal: str
    status: str  # met, missed or NOT_MEASURED


def _level(results: dict[str, Any], customers: int) -> dict[str, Any] | None:
    for level in (results.get("speed") or {}).get("closed_loop") or []:
        if level["customers"] == customers:
            return dict(level)
    return None


def _ms(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.1f}"


def _check(name: str, value: float | None, shown: str, goal: str, ok: bool) -> Target:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Target(name, "–", goal, NOT_MEASURED)
    return Target(name, shown, goal, "met" if ok else "missed")


def targets(results: dict[str, Any]) -> list[Target]:
    """The issue's targets, each met, missed or not measured in this run."""
    nlu = results.get("understanding") or {}
    found: list[Target] = []
    acc, oos = nlu.get("in_scope_accuracy"), nlu.get("oos_fallback_share")
    found.append(_check("In-scope intent accuracy (bitext_dev, shipped threshold)", acc,
                        f"{acc:.3f}" if acc is not None else "", "≥ 0.90", acc is not None and acc >= 0.90))
    found.append(_check("Out-of-scope falling back (clinc150_oos_dev)", oos,
                        f"{oos:.3f}" if oos is not None else "", "≥ 0.80", oos is not None and oos >= 0.80))
    one = _level(results, 1)
    paired = (results.get("speed") or {}).get("paired_one_customer") or {}
    overhead = paired.get("overhead_p50_ms")
    notes = []
    if overhead is not None:
        notes.append(f"median of {paired['pairs']} paired turns")
    elif one:
        overhead = one["gateway"]["p50_ms"] - one["raw"]["p50_ms"]
    if one:
        notes.append(f"block difference {_ms(one['gateway']['p50_ms'] - one['raw']['p50_ms'])} ms")
        notes.append(f"own time {_ms(one['gateway'].get('own_p50_ms'))} ms")
    shown = f"{overhead:.2f} ms ({'; '.join(notes)})" if overhead is not None else ""
    found.append(_check("Gateway overhead at p50, 1 customer", overhead, shown, "≤ 5 ms",
                        overhead is not None and overhead <= 5))
    fifty = _level(results, 50)
    loss = 1 - ratio(fifty["gateway"]["throughput_msg_s"], fifty["raw"]["throughput_msg_s"]) if fifty else None
    found.append(_check("Gateway throughput loss at 50 customers vs raw", loss,
                        f"{100 * loss:.1f} %" if loss is not None else "", "≤ 10 %",
                        loss is not None and loss <= 0.10))
    if fifty:
        g = fifty["gateway"]
        shown = f"p95 {_ms(g['p95_ms'])} ms, {g['errors']} errors, {g['lost']} lost"
        ok = g["p95_ms"] <= 500 and g["errors"] == 0 and g["lost"] == 0 and g["answered"] > 0
        found.append(_check("50 concurrent through the gateway", g["p95_ms"], shown,
                            "p95 ≤ 500 ms, 0 errors, 0 lost", ok))
    else:
        found.append(Target("50 concurrent through the gateway", "–", "p95 ≤ 500 ms, 0 errors, 0 lost", NOT_MEASURED))
    cap = (results.get("speed") or {}).get("capacity")
    value = cap["capacity"] if cap else None
    shown = f"{value} customers (tried up to {cap['max_tried']})" if cap else ""
    found.append(_check("Capacity (typing every 3 s, p95 ≤ 300 ms, 0 errors)", value, shown, "≥ 200",
                        value is not None and value >= 200))
    flood = results.get("flood") or {}
    value = flood.get("p95_ratio")
    shown = (f"p95 {_ms(flood['flood']['p95_ms'])} ms vs {_ms(flood['quiet']['p95_ms'])} ms quiet: ×{value:.2f}, "
             f"{flood['flood']['errors']} customer errors" if value is not None else "")
    found.append(_check("50 customers while one address floods, p95 vs without", value, shown,
                        "≤ ×1.25, 0 errors", bool(flood.get("met"))))
    for name, value, shown, goal, met in gateway_targets(results["gateways"]) if "gateways" in results else []:
        found.append(_check(name, value, shown, goal, met))
    train = (results.get("training") or {}).get("seconds")
    found.append(_check("Training from scratch", train, f"{train / 60:.2f} min" if train else "", "≤ 3 min",
                        train is not None and train <= 180))
    return found


def _understanding(nlu: dict[str, Any]) -> list[str]:
    if not nlu or "error" in nlu:
        return ["## Understanding", "", f"Not measured: {nlu.get('error', 'skipped')}.", ""]
    lines = [
        "## Understanding", "",
        f"{nlu['in_scope_examples']} in-scope utterances ({nlu['labels']} intents) and {nlu['oos_examples']} "
        f"out-of-scope ones, parsed with the shipped model; a mean parse took {nlu['mean_parse_ms']:.1f} ms.", "",
        f"- In-scope accuracy: **{nlu['in_scope_accuracy']:.3f}**, macro-F1 **{nlu['in_scope_macro_f1']:.3f}** "
        f"(in-scope messages falling back: {nlu['in_scope_fallback_share']:.3f}; "
        f"top-1 without any fallback: {nlu['top1_accuracy_without_fallback']:.3f})",
        f"- Out-of-scope falling back: **{nlu['oos_fallback_share']:.3f}**",
        f"- Shipped FallbackClassifier: threshold {nlu['shipped_threshold']}, ambiguity threshold "
        f"{nlu['ambiguity_threshold']} (the sweep reproduces the model's own decisions for "
        f"{100 * nlu['sweep_agrees_with_model']:.1f} % of utterances)", "",
        "| fallback threshold | in-scope accuracy | out-of-scope falling back |", "|---|---|---|",
    ]
    for row in nlu["threshold_sweep"]:
        mark = " **(shipped)**" if row["shipped"] else ""
        lines.append(f"| {row['threshold']:.2f}{mark} | {row['in_scope_accuracy']:.3f} | {row['oos_fallback_share']:.3f} |")
    lines += ["", "Costliest confusions (true → predicted):", "", "| true intent | predicted | count |", "|---|---|---|"]
    lines += [f"| {c['true']} | {c['predicted']} | {c['count']} |" for c in nlu["top_confusions"]]
    return lines + [""]


def _speed(speed: dict[str, Any]) -> list[str]:
    if not speed or "error" in speed:
        return ["## Speed", "", f"Not measured: {speed.get('error', 'skipped')}.", ""]
    lines = [
        "## Speed, end to end (closed loop, no think time)", "",
        f"Layout: {speed.get('layout', 'one Rasa process, SQLite')}. The raw reference sends each "
        "conversation straight to a Rasa process, picked by the hash the gateway uses on an idle stack "
        "(under load the gateway gives a new conversation to the less busy process and queues "
        "messages beyond RASA_MAX_IN_FLIGHT per process; raw Rasa has neither).", "",
        "Latency: from sending a message to the bot's last reply (gateway: the last bot `message` frame "
        "on the WebSocket; raw: the REST response). Raw and gateway alternate in blocks of about 10 s "
        "with the same scripts. Ratio = gateway / raw. *Delivery*: the gateway's p50 time from typing "
        "off (sent once the replies are stored) to the last reply frame. *Own*: the gateway's p50 time "
        "in the same turn outside Rasa: until the customer's stored line came back, plus delivery "
        "(free of Rasa's jitter, which the gateway − raw difference is not; storing the replies falls "
        "before typing off and is not in it).", "",
        "| customers | path | msg/s | p50 ms | p95 ms | p99 ms | errors | lost | off script | delivery ms | own ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for level in speed["closed_loop"]:
        g, r = level["gateway"], level["raw"]
        for name, f in (("gateway", g), ("raw Rasa", r)):
            kinds = ", ".join(f"{k} {v}" for k, v in f["errors_by_kind"].items())
            lines.append(f"| {level['customers']} | {name} | {f['throughput_msg_s']:.1f} | {_ms(f['p50_ms'])} | "
                         f"{_ms(f['p95_ms'])} | {_ms(f['p99_ms'])} | {f['errors']}{f' ({kinds})' if kinds else ''} | "
                         f"{f['lost']} | {f['off_script']} | {_ms(f.get('delivery_p50_ms'))} | {_ms(f.get('own_p50_ms'))} |")
        cells = [level["ratio"][k] for k in ("throughput_msg_s", "p50_ms", "p95_ms", "p99_ms")]
        lines.append(f"| {level['customers']} | *ratio* | " + " | ".join(
            "–" if math.isnan(c) else f"{c:.2f}" for c in cells) + " | | | | | |")
    lines += ["", "Gateway − raw at p50, over the mix (and the median of the per-message differences): " + "; ".join(
        f"{_ms(level['overhead_p50_ms'])} ms ({_ms(level['overhead_p50_by_step_median_ms'])} ms) "
        f"with {level['customers']} customer{'s' if level['customers'] > 1 else ''}"
        for level in speed["closed_loop"]) + "."]
    paired = speed.get("paired_one_customer")
    if paired and paired.get("pairs"):
        lines += ["", f"**Paired, 1 customer** ({paired['pairs']} pairs, {paired['failed_pairs']} failed): each script "
                  "step sent to raw Rasa and through the gateway right after each other, on the same Rasa process. "
                  f"Gateway − raw per pair: median {_ms(paired['overhead_p50_ms'])} ms (quartiles "
                  f"{_ms(paired['overhead_p25_ms'])} to {_ms(paired['overhead_p75_ms'])} ms); p50 raw "
                  f"{_ms(paired['raw_p50_ms'])} ms, gateway {_ms(paired['gateway_p50_ms'])} ms."]
    cap = speed["capacity"]
    lines += ["", f"## Capacity (customers who wait {cap['think_seconds']:g} s between messages)", "",
              f"Largest level with p95 ≤ {cap['p95_limit_ms']:g} ms and no errors: **{cap['capacity']}** "
              f"(tried up to {cap['max_tried']}).", "",
              "| customers | msg/s | p50 ms | p95 ms | p99 ms | errors | met |", "|---|---|---|---|---|---|---|"]
    for f in cap["steps"]:
        lines.append(f"| {f['customers']} | {f['throughput_msg_s']:.1f} | {_ms(f['p50_ms'])} | {_ms(f['p95_ms'])} | "
                     f"{_ms(f['p99_ms'])} | {f['errors']} | {'yes' if f['met'] else 'no'} |")
    return lines + [""]


def _cost(results: dict[str, Any]) -> list[str]:
    train = results.get("training") or {}
    speed = results.get("speed") or {}
    lines = ["## Cost", ""]
    if "seconds" in train:
        lines.append(f"- Training from scratch (`rasa train --force`): **{train['seconds']:.0f} s**")
    else:
        lines.append(f"- Training: not measured: {train.get('error', 'skipped')}")
    start = speed.get("startup")
    if start:
        each = ", ".join(f"{key.removesuffix('_seconds').replace('actions', 'action server')} {value:.1f} s"
                         for key, value in start.items() if key != "stack_seconds" and value is not None)
        lines.append(f"- Start-up, all processes started together until each answers: "
                     f"**{start['stack_seconds']:.1f} s** ({each})")
        idle, peak = speed["memory_idle_mib"], speed["memory_peak_mib"]
        lines += ["", "| process | RSS idle MiB | RSS peak under load MiB |", "|---|---|---|"]
        for name in idle:
            lines.append(f"| {name} | {idle[name]:.0f} | {peak.get(name, math.nan):.0f} |")
        lines.append(f"| total | {sum(idle.values()):.0f} | {sum(peak.values()):.0f} |")
    return lines + [""]


def _flood(flood: dict[str, Any]) -> list[str]:
    if not flood or "error" in flood:
        return ["## Flood from one address", "", f"Not measured: {flood.get('error', 'skipped')}.", ""]
    quiet, flooded, flooder = flood["quiet"], flood["flood"], flood["flooder"]
    lines = [
        "## Flood from one address", "",
        f"Layout: {flood['layout']}; shipped limits, counted in {flood['limits_in']}. {quiet['customers']} customers "
        f"typing every {quiet['think_seconds']:g} s, each from its own loopback address, in {quiet['blocks']} "
        "quiet and as many flood blocks, alternating; in the flood blocks 127.0.0.2 opens "
        f"{flood.get('flood_rate', 500)} sockets a second and sends 5 messages on each it gets, from a niced process "
        "of its own.", "",
        "| customers | p50 ms | p95 ms | p99 ms | messages | errors |", "|---|---|---|---|---|---|",
    ]
    for name, figures in (("quiet", quiet), ("flood", flooded)):
        lines.append(f"| {name} | {_ms(figures['p50_ms'])} | {_ms(figures['p95_ms'])} | {_ms(figures['p99_ms'])} "
                     f"| {figures['messages']} | {figures['errors']} |")
    lines += ["", f"Flooder: {flooder.get('sockets', 0)} sockets ({flooder.get('sockets_refused', 0)} refused, "
              f"{flooder.get('socket_errors', 0)} failed), {flooder.get('messages_sent', 0)} messages "
              f"({flooder.get('messages_refused', 0)} refused, {flooder.get('messages_stored', 0)} stored).", ""]
    return lines


def markdown(results: dict[str, Any]) -> str:
    m = results.get("machine") or {}
    lines = [f"# CareDesk benchmark {results['timestamp']}", "",
             f"Commit {m.get('commit')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, Python {m.get('python')}.", "",
             "## Targets", "", "| figure | value | target | |", "|---|---|---|---|"]
    lines += [f"| {t.name} | {t.value} | {t.goal} | {t.status} |" for t in targets(results)]
    lines.append("")
    lines += _understanding(results.get("understanding") or {})
    lines += _speed(results.get("speed") or {})
    lines += _flood(results.get("flood") or {})
    if "gateways" in results:
        lines += gateway_section(results["gateways"])
    lines += _cost(results)
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> bool:
    """Latency percentiles and throughput per level, gateway vs raw. False when no speed data."""
    levels = (results.get("speed") or {}).get("closed_loop") or []
    if not levels:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    xs = [level["customers"] for level in levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    colours = {"p50_ms": "tab:blue", "p95_ms": "tab:orange", "p99_ms": "tab:red"}
    for path_name, style in (("gateway", "-"), ("raw", "--")):
        for key, colour in colours.items():
            left.plot(xs, [level[path_name][key] for level in levels], style, marker="o", color=colour,
                      label=f"{path_name} {key[:3]}")
        right.plot(xs, [level[path_name]["throughput_msg_s"] for level in levels], style, marker="o",
                   color="black", label=path_name)
    left.set(xscale="log", yscale="log", xlabel="concurrent customers (closed loop)", ylabel="latency (ms)",
             title="Latency per level: gateway (solid) vs raw Rasa (dashed)")
    right.set(xscale="log", xlabel="concurrent customers (closed loop)", ylabel="messages / s", title="Throughput")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    left.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    left.yaxis.set_major_formatter(plain)
    left.yaxis.set_minor_formatter(NullFormatter())
    right.set_ylim(bottom=0)
    for axis in (left, right):
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xticks(xs, [str(x) for x in xs])
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle(f"CareDesk benchmark {results['timestamp']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(results: dict[str, Any], out_dir: Path) -> tuple[Path, str]:
    """Write the three files; returns the JSON path and the Markdown summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / results["timestamp"]
    summary = markdown(results)
    if plot(results, stem.with_suffix(".png")):
        summary += f"\nLatency plot: {stem.with_suffix('.png')}\n"
    results["targets"] = [t.__dict__ for t in targets(results)]
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    stem.with_suffix(".md").write_text(summary, encoding="utf-8")
    return stem.with_suffix(".json"), summary
