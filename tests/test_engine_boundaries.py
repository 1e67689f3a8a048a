"""The engine never imports Gradio: the CLI and any other front end drive the same code."""

import subprocess
import sys


def test_engine_and_cli_import_without_gradio():
    code = ("import sys, studio.engine.train.job, studio.engine.data.formats, studio.engine.runs, "
            "studio.cli; import importlib, pkgutil, studio.engine as e\n"
            "for m in pkgutil.walk_packages(e.__path__, 'studio.engine.'):\n"
            "    importlib.import_module(m.name)\n"
            "print('gradio' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
