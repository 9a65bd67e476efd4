"""``tako-gha schema``: the JSON Schema of tako.yml, for editors."""

from __future__ import annotations

import click


@click.command("schema", short_help="Print the JSON Schema of tako.yml (for editors).")
def schema_command() -> None:
    """Print the JSON Schema of tako.yml (draft 2020-12, $id
    urn:tako-gha:tako.schema.json) on stdout, for editors and validators.

    Save it next to your tako.yml and point the YAML language server at it with a
    first line `# yaml-language-server: $schema=./tako.schema.json`
    (https://github.com/acme/tako-gha/blob/main/docs/tako-yml.md).
    The schema checks the shape; `tako-gha lint` also checks filters, templates,
    ranges and the workflows. Exit 0.

    \b
    Examples:
      tako-gha schema > tako.schema.json
      tako-gha schema > s.json && check-jsonschema --schemafile s.json tako.yml
    """
    from tako_gha.core.config import schema_text

    click.echo(schema_text(), nl=False)
