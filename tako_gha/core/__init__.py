"""Pure core: no network, no subprocesses, no clocks read implicitly."""
