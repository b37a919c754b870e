"""`renkei conformance`: what renkei supports of each standard, and the test proving it (docs/conformance.md)."""

from __future__ import annotations

import click

from renkei.bin.conformance_matrix import render_markdown, render_text


@click.command()
@click.option("--markdown", is_flag=True, help="print docs/conformance.md exactly (Markdown table)")
def conformance(markdown: bool) -> None:
    """Print the conformance matrix: per standard clause, full / partial / not, and the proving test."""
    click.echo(render_markdown() if markdown else render_text(), nl=False)
