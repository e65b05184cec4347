"""The funnel chart, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def funnel_chart_png(title: str, steps: Sequence[tuple[str, int]], *, rates: Sequence[float | None] = ()) -> bytes:
    """A horizontal funnel: one bar per stage (count of deals that entered it), with step conversion rates."""
    names = [name for name, _ in steps]
    counts = [count for _, count in steps]
    widest = max(counts) if counts and max(counts) > 0 else 1
    figure, axes = plt.subplots(figsize=(7, 0.6 * max(3, len(steps)) + 1), dpi=110)
    try:
        for row, (name, count) in enumerate(zip(names, counts)):
            width = max(count / widest, 0.004)
            axes.barh(row, width, left=(1 - width) / 2, color="#1d4f91", height=0.7)
            axes.text(-0.02, row, name, ha="right", va="center", fontsize=10)
            axes.text((1 + width) / 2 + 0.01, row, str(count), ha="left", va="center", fontsize=10, fontweight="bold")
            if row < len(rates) and rates[row] is not None:
                axes.text(1.1, row + 0.5, f"↓ {rates[row]:.0%}", ha="left", va="center", fontsize=9, color="#555555")
        axes.set_ylim(len(steps) - 0.5, -0.5)
        axes.set_xlim(0, 1.2)
        axes.axis("off")
        axes.set_title(title, fontsize=12)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(figure)
