"""The errors a user can cause and fix, gathered so every front end shows them the same way.

Anything in ``USER_ERRORS`` is shown as its message alone (a form field, a toast, one CLI line);
anything else is a bug and keeps its traceback in the run's log.
"""

from studio.engine.chat.targets import ChatError
from studio.engine.chat.votes import VoteError
from studio.engine.data.formats import DataError
from studio.engine.models import ModelError
from studio.engine.scoring.data import EvalDataError
from studio.engine.train.config import ConfigError
from studio.engine.workspace import PathError


class BusyError(RuntimeError):
    """A job is already running on this device; the message names the run."""


class RunStateError(RuntimeError):
    """An action the run's state does not allow (resuming a completed run, say)."""


USER_ERRORS = (ConfigError, DataError, EvalDataError, ModelError, PathError, BusyError,
               RunStateError, ChatError, VoteError, FileNotFoundError)
