"""The fairness report as Markdown, by the template `templates/fairness.md.j2`, which the model
card's template also includes (as its "Fairness" section)."""

from __future__ import annotations

from kaimen.model.fairness import FairnessReport
from kaimen.model.model_card_markdown import markdown_template

TEMPLATE = "fairness.md.j2"


def render_markdown(report: FairnessReport, heading: str = "#") -> str:
    """The report as Markdown, its title at the `heading` level ('#' alone, '##' in a card)."""
    return markdown_template(TEMPLATE).render(report=report, h=heading)
