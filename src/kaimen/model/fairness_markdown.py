"""The fairness report as Markdown, by the template `templates/fairness.md.j2`, which the model
card's template also includes (as its "Fairness" section)."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from kaimen.model.fairness import FairnessReport
from kaimen.model.model_card_markdown import cell, percent, row, thousands

TEMPLATE = "fairness.md.j2"


@cache
def _template() -> Template:
    environment = Environment(
        loader=PackageLoader("kaimen.model", "templates"),
        # Escaping is for HTML templates only; Markdown cells are escaped by `cell`.
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.globals["row"] = row
    environment.filters.update(cell=cell, pct=percent, thousands=thousands)
    return environment.get_template(TEMPLATE)


def render_markdown(report: FairnessReport, heading: str = "#") -> str:
    """The report as Markdown, its title at the `heading` level ('#' alone, '##' in a card)."""
    return _template().render(report=report, h=heading)
