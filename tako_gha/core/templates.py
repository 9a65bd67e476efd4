"""Input templates (SPEC §5): ``{{ .event.payload.version }}``.

INTERFACE (agreed):
    parse_template(text) -> Template      # raises TemplateError for syntax or a
                                          # root other than .event.{type,schema_version,source,payload}
    Template.source: str
    Template.render(context: dict) -> str # raises TemplateError naming the path that does not exist
    context_for(event: Event) -> dict     # {"event": event.to_json()}
Non-string values render as JSON.
"""
