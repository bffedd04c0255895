"""Model artifacts: a folder in the object store with a SHA-256 manifest.

The manifest lists every file with its SHA-256 and size; the manifest's own SHA-256 is recorded
with the model version. Loading checks the manifest against that record and every file against
the manifest *before* unpickling anything, so a tampered artifact refuses to load.
"""

from __future__ import annotations

import json
import pickle
from typing import TYPE_CHECKING, Any

from loopline.errors import IntegrityError
from loopline.store import ObjectStore

if TYPE_CHECKING:  # scikit-learn's modules load with the model itself, not with the registry
    from loopline.training._model import TrainedModel

__all__ = [
    "MANIFEST",
    "MODEL_FILE",
    "load_model",
    "read_file",
    "read_optional_file",
    "save_artifacts",
]

MANIFEST = "MANIFEST.json"
MODEL_FILE = "model.pkl"


def save_artifacts(
    objects: ObjectStore, prefix: str, model: TrainedModel, files: dict[str, bytes]
) -> str:
    """Write the model and ``files`` under ``prefix``; return the manifest's SHA-256."""
    entries: dict[str, dict[str, Any]] = {}
    payload = {MODEL_FILE: pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), **files}
    for name, data in sorted(payload.items()):
        ref = objects.put_bytes(f"{prefix}/{name}", data)
        entries[name] = {"sha256": ref.sha256, "size": ref.size}
    manifest = json.dumps({"files": entries}, indent=2, sort_keys=True).encode()
    return objects.put_bytes(f"{prefix}/{MANIFEST}", manifest).sha256


def _manifest(objects: ObjectStore, prefix: str, manifest_sha256: str) -> dict[str, Any]:
    data = objects.get_bytes(f"{prefix}/{MANIFEST}", sha256=manifest_sha256)
    manifest: dict[str, Any] = json.loads(data)
    return manifest


def read_file(objects: ObjectStore, prefix: str, manifest_sha256: str, name: str) -> bytes:
    """One artifact file, verified against the manifest.

    Raises:
        IntegrityError: The manifest or the file changed since registration, or the manifest
            has no such file.
    """
    data = read_optional_file(objects, prefix, manifest_sha256, name)
    if data is None:
        raise IntegrityError(f"The artifact at {prefix} has no file {name!r} in its manifest.")
    return data


def read_optional_file(
    objects: ObjectStore, prefix: str, manifest_sha256: str, name: str
) -> bytes | None:
    """:func:`read_file`, or ``None`` when the manifest lists no such file (versions registered
    by an older loopline lack files newer ones have). A listed file that changed still raises.
    """
    entry = _manifest(objects, prefix, manifest_sha256)["files"].get(name)
    if entry is None:
        return None
    return objects.get_bytes(f"{prefix}/{name}", sha256=entry["sha256"])


def load_model(objects: ObjectStore, prefix: str, manifest_sha256: str) -> TrainedModel:
    """Load a registered model after verifying every file of its artifact.

    Raises:
        IntegrityError: Any file differs from what was registered (nothing is unpickled then).
    """
    manifest = _manifest(objects, prefix, manifest_sha256)
    for name, entry in sorted(manifest["files"].items()):
        objects.verify(f"{prefix}/{name}", entry["sha256"])
    data = objects.get_bytes(
        f"{prefix}/{MODEL_FILE}", sha256=manifest["files"][MODEL_FILE]["sha256"]
    )
    from loopline.training._model import TrainedModel

    model = pickle.loads(data)  # noqa: S301  (verified against the registered SHA-256 above)
    if not isinstance(model, TrainedModel):
        raise IntegrityError(f"The artifact at {prefix} does not hold a loopline model.")
    return model
