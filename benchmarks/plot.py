"""The update-timing figure: text arriving at the kernel against updates leaving it."""

from __future__ import annotations

from pathlib import Path

from .bench_stream import Timeline
from .common import percentile


def update_timing(line: Timeline, path: Path, title: str) -> Path:
    """Cumulative characters over time, whole stream and a zoomed half second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = line.sent[0][0]
    sent_t = [(t - t0) * 1000 for t, _ in line.sent]
    sent_n = [n for _, n in line.sent]
    shown_t = [(t - t0) * 1000 for t, _ in line.shown]
    shown_n = [n for _, n in line.shown]
    p50, p95 = percentile(line.delays, 50) * 1000, percentile(line.delays, 95) * 1000

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    middle = sent_t[len(sent_t) // 2]
    for ax, span in ((axes[0], None), (axes[1], (middle, middle + 500))):
        ax.step(sent_t, sent_n, where="post", lw=1, color="#888", label="chunks sent to the kernel")
        ax.step(shown_t, shown_n, where="post", lw=1.5, color="#c03", label="updates leaving it")
        ax.plot(shown_t, shown_n, "o", ms=3, color="#c03")
        ax.set_xlabel("ms since the first chunk")
        ax.grid(alpha=0.3)
        if span is not None:
            inside = [n for t, n in line.sent if span[0] <= (t - t0) * 1000 <= span[1]]
            ax.set_xlim(*span)
            if inside:
                ax.set_ylim(min(inside) - 50, max(inside) + 50)
            ax.set_title("a 500 ms window")
    axes[0].set_ylabel("characters")
    axes[0].set_title(f"{title}\nfreshness p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    axes[0].legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
