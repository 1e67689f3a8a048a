"""What every tab is built with: the workspace, the run store, the job manager, translations.

``StudioContext`` is created once per app. Tabs also publish components other tabs need (the
Train form, so the Runs tab can clone a run into it) in ``shared``; ``lang`` is the header's
language picker, an input to every handler that returns a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.engine.runs import RunStore
from studio.engine.train.job import JobManager
from studio.engine.workspace import Workspace
from studio.ui.i18n import Translator


@dataclass
class StudioContext:
    workspace: Workspace
    store: RunStore
    jobs: JobManager
    tr: Translator = field(default_factory=Translator)
    lang: object = None  # the gr.Radio in the header, set by build_app before tabs are built
    shared: dict = field(default_factory=dict)

    @classmethod
    def create(cls, workspace: Workspace, runs_dir=None) -> StudioContext:
        store = RunStore(runs_dir or workspace.runs_dir)
        store.mark_interrupted()
        return cls(workspace=workspace, store=store, jobs=JobManager(store))

    def t(self, key: str, lang: str = "en", **fmt) -> str:
        return self.tr.t(key, lang, **fmt)
