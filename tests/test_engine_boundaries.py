"""The engine never imports Gradio: the CLI and any other front end drive the same code."""

import subprocess
import sys


def test_engine_and_cli_import_without_gradio():
    code = ("import sys, studio.engine.train, studio.engine.data, studio.engine.runs, "
            "studio.cli; import importlib, pkgutil, studio.engine as e\n"
            "for m in pkgutil.iter_modules(e.__path__): importlib.import_module('studio.engine.'"
            " + m.name)\n"
            "print('gradio' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
