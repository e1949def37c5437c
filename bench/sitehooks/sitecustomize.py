"""Times every script run of a Streamlit server started by the dashboard benchmark.

bench/bench_dashboard.py starts `streamlit run dashboard.py` with this folder on PYTHONPATH and
BENCH_SCRIPT_RUNS naming a file; Python imports this module at start-up (as `sitecustomize`),
and when Streamlit's script runner is imported its `ScriptRunner._run_script` is wrapped: each
run (a session's whole script run, reruns triggered inside it included) appends one JSON line
to that file: its start (epoch seconds), wall seconds, CPU seconds of the script thread (the
threads DuckDB starts for a query are not in it: the process's CPU is measured apart), and
whether it was a fragment's run. Without BENCH_SCRIPT_RUNS it does nothing. Nothing of the
app (dashboard.py, monitor_app/) is changed.
"""

from __future__ import annotations

import os

_PATH = os.environ.get("BENCH_SCRIPT_RUNS")
_PROFILE = os.environ.get("BENCH_PROFILE")  # a folder: each script run's cProfile stats
_count = [0]
_TARGET = "streamlit.runtime.scriptrunner.script_runner"


def _wrap(module: object) -> None:
    import json
    import threading
    import time

    runner = module.ScriptRunner  # type: ignore[attr-defined]
    original = runner._run_script
    lock = threading.Lock()

    def _run_script(self: object, rerun_data: object) -> None:
        started, wall0, cpu0 = time.time(), time.perf_counter(), time.thread_time()
        fragment = bool(getattr(rerun_data, "fragment_id_queue", None))
        profile = None
        if _PROFILE and not fragment:
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        try:
            original(self, rerun_data)
        finally:
            wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
            name = None
            if profile is not None:
                profile.disable()
                with lock:
                    _count[0] += 1
                    name = f"run-{_count[0]:03d}.prof"
                profile.dump_stats(os.path.join(_PROFILE, name))  # type: ignore[arg-type]
            record = {
                "start": started,
                "wall": wall,
                "cpu": cpu,
                "fragment": fragment,
                "query": str(getattr(rerun_data, "query_string", ""))[:200],
                "profile": name,
            }
            with lock, open(_PATH, "a") as fh:  # type: ignore[arg-type]
                fh.write(json.dumps(record) + "\n")

    runner._run_script = _run_script


if _PATH:
    import importlib.abc
    import importlib.machinery
    import sys

    class _Finder(importlib.abc.MetaPathFinder):
        """Wraps the script runner's module once it is loaded, then steps aside."""

        def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
            if name != _TARGET:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path, target)
            if spec is None or spec.loader is None:
                return spec
            loader = spec.loader
            exec_module = loader.exec_module

            def exec_and_wrap(module):  # type: ignore[no-untyped-def]
                exec_module(module)
                _wrap(module)

            loader.exec_module = exec_and_wrap  # type: ignore[method-assign]
            sys.meta_path.remove(self)
            return spec

    sys.meta_path.insert(0, _Finder())
