"""Model references as users write them: a local dir, a gs:// (any fsspec) URL, or a Hub id.

A Hugging Face Hub id (`Qwen/Qwen2.5-Coder-7B-Instruct`, optionally `@revision`, or spelled
`hf://Qwen/...`) resolves through `huggingface_hub` and its cache: a snapshot already there is used
as it is (so `HF_HUB_OFFLINE=1` works with a pre-populated cache; `HF_HUB_CACHE` / `HF_HOME` move
it), anything missing is downloaded. Callers name the files they need, so loading a tokenizer never
pulls a model's weights. Everything else passes through unchanged for fsspec to read.
"""
from __future__ import annotations

import os
import re
from typing import Sequence

# owner/name[@revision]; the Hub's own rules (letters, digits, '-', '_', '.'; no leading '.' or '-').
_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95})(?:@(?P<revision>[\w./-]+))?$")
HUB_SCHEME = "hf://"

WEIGHT_FILES = ("config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json")


def hub_reference(path: str) -> tuple[str, str | None] | None:
    """(repo_id, revision) when `path` names a Hub model rather than a local path or a URL."""
    if path.startswith(HUB_SCHEME):
        rest = path[len(HUB_SCHEME):]
    elif "://" in path or path.startswith(("/", ".", "~")) or os.path.exists(path):
        return None
    else:
        rest = path
    match = _HUB_ID.match(rest)
    if match is None:
        if path.startswith(HUB_SCHEME):
            raise FileNotFoundError(f"{path!r} is not a Hub model id (hf://OWNER/NAME[@REVISION])")
        return None
    return match["repo"], match["revision"]


def resolve(path: str, files: Sequence[str], what: str = "model") -> str:
    """A directory holding `files` (glob patterns) for `path`: the path itself, or a Hub snapshot."""
    reference = hub_reference(path)
    if reference is None:
        return path
    repo, revision = reference
    from huggingface_hub import constants, errors, snapshot_download

    where = f"{what} {path!r} is not a local directory and"
    try:
        return snapshot_download(repo, revision=revision, allow_patterns=list(files))
    except (errors.RepositoryNotFoundError, errors.GatedRepoError) as e:
        raise FileNotFoundError(f"{where} the Hugging Face Hub has no model {repo!r} this host may read "
                                f"(a typo, or private/gated: log in or set HF_TOKEN)") from e
    except errors.RevisionNotFoundError as e:
        raise FileNotFoundError(f"{where} the Hub model {repo!r} has no revision {revision!r}") from e
    except (errors.LocalEntryNotFoundError, errors.IncompleteSnapshotError) as e:
        if constants.HF_HUB_OFFLINE:
            offline = "HF_HUB_OFFLINE=1 is set and "
        else:
            cause = e.__cause__ or e
            offline = f"the Hub could not be reached ({type(cause).__name__}) and "
        raise FileNotFoundError(f"{where} {offline}the Hub cache {constants.HF_HUB_CACHE} holds no complete "
                                f"snapshot of {repo!r}{'@' + revision if revision else ''} "
                                f"(download it once with network access, or point HF_HUB_CACHE at a cache that has it)"
                                ) from e
