"""The model card as Markdown, rendered by the Jinja2 template `templates/model_card.md.j2`.

Every number comes from the card; every table cell goes through `cell`, so a value cannot
break the table it is in.
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from kaimen.model.model_card import ModelCard, Unavailable

TEMPLATE = "model_card.md.j2"


def cell(value: object) -> str:
    """A table cell: '-' for nothing, yes/no, four decimals for a fraction, pipes escaped."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def row(*values: object) -> str:
    return "| " + " | ".join(cell(v) for v in values) + " |"


def percent(value: float | None, places: int = 1) -> str:
    return "-" if value is None else f"{value:.{places}%}"


def thousands(value: int) -> str:
    return f"{value:,}"


@cache
def markdown_template(name: str = TEMPLATE) -> Template:
    """A Markdown template of kaimen.model's templates, with the cell filters."""
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
    environment.tests["unavailable"] = lambda section: isinstance(section, Unavailable)
    return environment.get_template(name)


def render_markdown(card: ModelCard) -> str:
    """The card as Markdown."""
    return markdown_template().render(card=card)
