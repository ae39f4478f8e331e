#!/usr/bin/env python3
"""Markdown tables of docs/QUALITY.md from bench/quality_stories260k.sh's results.jsonl (the last record per row wins)."""
import json
import sys

# ANCHORS.md: llama.cpp 34af94cd's own figures for its files (llama-perplexity, whole text, -c 256).
ANCHORS = {
    "F16": (4.8751, 0.000004, 0.9991), "BF16": (4.8751, 0.000084, 0.9950), "Q8_0": (4.8823, 0.000776, 0.9837),
    "Q5_1": (4.9167, 0.01604, 0.9317), "Q5_0": (4.9882, 0.01945, 0.9262), "Q4_1": (5.1542, 0.06836, 0.8651),
    "Q4_0": (5.2262, 0.08713, 0.8505), "IQ4_NL": (5.1591, 0.06425, 0.8726),
}


def load(path):
    rows = {}
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        rows[(r["table"], r["label"])] = r
    return rows


def kib(n):
    return f"{n / 1024:.1f}"


def types(r):
    return ", ".join(f"{t} {n}" for t, n in sorted(r["types"].items(), key=lambda kv: -kv[1]))


def row(r, extra=""):
    return (f"| {r['label']} | {r['bpw']:.3f} | {r['quantized_bpw']:.3f} | {kib(r['file_bytes'])} | {r['ppl']:.4f} | "
            f"{r['kld']:.5f} ± "
            f"{r['kld_error']:.5f} | {100 * r['same_top']:.2f}% |{extra}")


def table(rows, name):
    picked = [r for (t, _), r in rows.items() if t == name]
    if not picked:
        return
    chunks = {r["chunks"] for r in picked}
    base = picked[0]["base_ppl"]
    print(f"### {name} ({'whole text' if chunks == {0} else f'first {sorted(chunks)} chunks'}; F32 PPL {base:.4f})\n")
    if name in ("llama", "llama-files"):
        print("| file | bpw | bpw quantized | KiB | PPL | KLD vs F32 | same top | llama.cpp (ANCHORS): PPL / KLD / same top "
              "| types |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in picked:
            key = r["label"].removeprefix("llama.cpp ")
            a = ANCHORS.get(key)
            extra = f" {a[0]:.4f} / {a[1]:.5f} / {100 * a[2]:.2f}% |" if a else " |"
            print(row(r, extra) + f" {types(r)} |")
    else:
        print("| file | bpw | bpw quantized | KiB | PPL | KLD vs F32 | same top | types |")
        print("|---|---|---|---|---|---|---|---|")
        for r in picked:
            print(row(r) + f" {types(r)} |")
    print()
    for r in picked:
        print(f"- {r['label']}: `{r['made_by']}`")
    print(f"- measured with `{picked[0]['kld_command']}` (FILE and chunks per row)\n")


def main():
    rows = load(sys.argv[1] if len(sys.argv) > 1 else "out/quality/results.jsonl")
    seen = []
    for t, _ in rows:
        if t not in seen:
            seen.append(t)
    for t in seen:
        table(rows, t)


if __name__ == "__main__":
    main()
