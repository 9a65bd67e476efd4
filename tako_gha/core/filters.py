"""CEL filters on cel-python (SPEC §4).

INTERFACE (agreed):
    FilterLimits(max_length, max_ast_nodes, max_depth, max_eval_seconds)
    DEFAULT_LIMITS
    compile_filter(source, limits=DEFAULT_LIMITS) -> CompiledFilter
        cached per process (same source+limits -> same object); raises
        FilterError(message, limit=<name or None>) when it does not compile or
        breaks a limit.
    CompiledFilter.source: str
    CompiledFilter.evaluate(activation: dict) -> FilterOutcome
        never raises for run-time problems: FilterOutcome(matched=False,
        reason="...") for missing fields/type errors/non-bool/time limit.
    activation_for(event: Event, subscriber: str) -> dict
        variables ``event`` (type, schema_version, source, payload) and
        ``subscriber`` (repo).
"""
