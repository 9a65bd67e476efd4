"""A GitHub-compatible API server for loopback, backed by a world directory.

INTERFACE (agreed):
    from tako_gha.emulator import Emulator
    with Emulator(world_dir, port=0, runner_capacity=4) as emu:
        emu.base_url            # "http://127.0.0.1:PORT", pass as --api-url / base_url
        emu.admin_token         # a token that sees every repo (from emulator.yml or default)
        emu.set_faults({...})   # same format as emulator.yml "faults"
        emu.requests()          # request log (list of dicts), also GET /_emulator/requests
        emu.stats()             # counts by endpoint kind and status, also /_emulator/stats
        emu.runs.all_runs()     # RunStore
        emu.wait_idle(timeout)  # until no run is queued/in_progress
    ``Emulator.start()`` / ``stop()`` for explicit control. Binds 127.0.0.1 only.
"""
