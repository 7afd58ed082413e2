"""The health history as an inline SVG drawn on the server: no chart library, no script, and
readable by a screen reader (a title and a summary)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from machete_core.state.views import HealthEventRecord

WIDTH, HEIGHT, BAR_GAP = 600, 60, 1


def health_chart(history: Sequence[HealthEventRecord]) -> Markup:
    """One bar per check, oldest on the left: full height and green when healthy, short and
    red when not (colour is never the only signal)."""
    checks = sorted(history, key=lambda h: h.at)
    healthy = sum(1 for h in checks if h.health == "healthy")
    summary = f"{healthy} of {len(checks)} recent checks healthy" if checks else "no checks yet"
    if not checks:
        return Markup('<p class="muted">{}</p>').format(summary)
    width = WIDTH / len(checks)
    bars = []
    for i, check in enumerate(checks):
        ok = check.health == "healthy"
        height = HEIGHT if ok else HEIGHT / 3
        label = f"{check.health}" + (f": {check.detail}" if check.detail else "")
        bars.append(
            f'<rect x="{i * width:.2f}" y="{HEIGHT - height:.2f}" '
            f'width="{max(width - BAR_GAP, 0.5):.2f}" height="{height:.2f}" '
            f'class="{"ok" if ok else "bad"}"><title>{escape(label)}</title></rect>'
        )
    return Markup(
        f'<svg class="health-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(summary)}" preserveAspectRatio="none">'
        f"<title>{escape(summary)}</title>{''.join(bars)}</svg>"
    )
