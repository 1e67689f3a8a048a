"""What every tab is built with: the workspace, the run store, the device, the translator.

``StudioContext`` is created once per app and holds the engine objects every tab shares: the run
store, the device arbiter (one training or scoring job at a time) and the job manager that trains
through it, and the chat engine (one copy of the base weights for every tab and user). ``lang`` is
the header's language picker, an input to every handler that returns a message. What one tab
needs from another is passed to it explicitly by ``build_app`` as a small typed handle (see
``studio.ui.data.tab.DataHandles`` and ``studio.ui.train.tab.TrainHandles``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.engine.device import Device
from studio.engine.runs import RunStore
from studio.engine.train.job import JobManager
from studio.engine.workspace import Workspace
from studio.ui.i18n import Translator


@dataclass
class StudioContext:
    workspace: Workspace
    store: RunStore
    device: Device
    jobs: JobManager
    tr: Translator = field(default_factory=Translator)
    lang: object = None  # the gr.Radio in the header, set by build_app before tabs are built
    server: object = None  # the Deploy tab's running StudioServer, shared by every page
    _chat_engine: object = None

    @classmethod
    def create(cls, workspace: Workspace, runs_dir=None) -> StudioContext:
        store = RunStore(runs_dir or workspace.runs_dir)
        store.mark_interrupted()
        device = Device()
        return cls(workspace=workspace, store=store, device=device,
                   jobs=JobManager(store, device))

    @property
    def chat_engine(self):
        """The one chat engine of this app (created on first use: it imports torch models)."""
        if self._chat_engine is None:
            from studio.engine.chat.engine import ChatEngine

            self._chat_engine = ChatEngine(runs=self.store, workspace=self.workspace)
        return self._chat_engine

    def t(self, key: str, lang: str = "en", **fmt) -> str:
        return self.tr.t(key, lang, **fmt)
