"""Push an exported folder (a merged model, or an adapter folder) to the Hugging Face Hub.

The repository is created private unless asked otherwise (a half-finished fine-tune should not be
public by accident), then the folder is uploaded in one commit. The token comes from the caller
or the ``HF_TOKEN`` environment variable and goes to the hub client only: it is never written to
disk, logged, or left in an error, and any library message that echoes it is scrubbed. Everything
that can be checked without the network (a token, the ``owner/name`` shape, the folder) is checked
first; the hub's refusals become coded errors: a rejected token, a hub out of reach, or another
refusal with the hub's own words.
"""

from __future__ import annotations

import os
from pathlib import Path

from studio.engine.errors import ExportError

DEFAULT_COMMIT = "Upload model exported by Fine-Tune Studio"


def push_to_hub(folder: str | Path, repo_id: str, token: str | None = None, private: bool = True,
                api=None, commit_message: str = DEFAULT_COMMIT) -> str:
    """Upload ``folder`` to the model repository ``repo_id`` (created when missing); returns the
    repository's URL. ``api`` is an ``HfApi``-like object (tests pass a fake one)."""
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        raise ExportError("hub_no_token")
    _check_repo_id(repo_id)
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError("hub_folder_missing", path=str(folder))
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    try:
        url = api.create_repo(repo_id, token=token, private=private, exist_ok=True,
                              repo_type="model")
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), token=token,
                          repo_type="model", commit_message=commit_message)
        return str(url)
    except Exception as exc:
        error = _hub_error(exc, repo_id, token)
    # Raised outside the except block, so the library's exception (whose text or request may
    # carry the token) is neither the cause nor the context of the error anyone sees or logs.
    raise error


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    # An owner is required: a bare name would land in whichever account the token belongs to.
    valid = isinstance(repo_id, str) and repo_id.count("/") == 1
    try:
        validate_repo_id(repo_id)  # the hub's own rules: characters, length, no "--" or ".."
    except HFValidationError:
        valid = False
    if not valid:
        raise ExportError("hub_repo_id", repo_id=repo_id)


def _hub_error(exc: Exception, repo_id: str, token: str) -> Exception:
    """The coded error for a failed hub call, or the scrubbed exception itself if it is a bug."""
    from huggingface_hub.errors import HfHubHTTPError

    detail = str(exc).replace(token, "***")
    if isinstance(exc, HfHubHTTPError):
        status = getattr(exc.response, "status_code", None)
        if status in (401, 403):
            return ExportError("hub_auth", status=status, repo_id=repo_id)
        return ExportError("hub_refused", status=status, repo_id=repo_id, detail=detail)
    # Offline mode raises a ConnectionError of its own; the rest come from the HTTP library.
    if isinstance(exc, _transport_errors()):
        return ExportError("hub_unreachable", detail=detail)
    # A bug: keep where it happened (the traceback), lose only the text that may hold the token.
    return RuntimeError(f"{type(exc).__name__}: {detail}").with_traceback(exc.__traceback__)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network failures: huggingface_hub 2 speaks httpx2, version 1 spoke httpx."""
    import importlib

    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except ImportError:
            continue
    return tuple(errors)
