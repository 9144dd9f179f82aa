"""A run on disk: completed chunks kept beside the output so an interrupted run resumes byte-identical."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from matcher.batch.results import ChunkResult
from matcher.config import BLOCKS


#: Record of one chunk's results in a part file.
PART_DTYPE = np.dtype(
    [("school", "<i4"), ("partner", "<i4"), ("score", "<f8"), ("contrib", "<f8", (len(BLOCKS),)), ("dist", "<f8")]
)
#: Bumped when part files or the chunk plan change meaning (old parts are then refused).
PARTS_VERSION = 2
_MANIFEST = "manifest.json"
#: Manifest key of the completed chunks' sha256 (``{"000003": "ab12..."}``), not a run parameter.
_CHUNK_SUMS = "chunk_sha256"


def parts_dir(output) -> Path:
    """Where a run keeps its completed chunks: ``OUTPUT.parts/`` beside the output."""

    out = Path(output)
    return out.with_name(out.name + ".parts")


def to_part(rows: np.ndarray, res: ChunkResult) -> np.ndarray:
    """A chunk's result as part records (``rows``: the chunk's school indices in the run)."""
    part = np.empty(len(res.partner), dtype=PART_DTYPE)
    part["school"] = np.repeat(rows, np.diff(res.starts))
    part["partner"] = res.partner
    part["score"] = res.score
    part["contrib"] = res.contrib
    part["dist"] = res.dist
    return part


class Parts:
    """The parts folder of a run: a lock, the manifest and one file per completed chunk.

    The manifest records the run's parameters and, under ``chunk_sha256``, the
    sha256 of every completed chunk file; ``--resume`` uses only chunks whose
    file still has that sha256 (a damaged one is ranked again). A chunk's
    sha256 is recorded before its file moves into place, so every chunk file
    a killed run leaves is covered.
    """

    def __init__(self, output):
        self.dir = parts_dir(output)
        self._lock = None
        self._manifest: dict = {}
        self._sums: dict[str, str] = {}

    def __enter__(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.dir / ".lock", "a+")
        try:
            import fcntl

            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX: no lock
            pass
        except OSError:
            from matcher.errors import MatcherError

            self._lock.close()
            raise MatcherError(f"another `matcher rank` is writing {self.dir.name[:-6]} (its parts are locked)") from None
        return self

    def __exit__(self, *exc):
        if self._lock is not None:
            self._lock.close()

    def chunk_path(self, c: int):
        return self.dir / f"chunk-{c:06d}.npy"

    def start(self, manifest: dict, resume: bool, chunks: list[np.ndarray]) -> set[int]:
        """Check or write the manifest; the chunks already done (when resuming)."""

        from matcher.errors import MatcherError

        for tmp in self.dir.glob(".*.tmp"):  # left by a killed run
            tmp.unlink(missing_ok=True)
        mpath = self.dir / _MANIFEST
        old = None
        if mpath.exists():
            try:
                old = json.loads(mpath.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None
        name = self.dir.name
        if old is not None and not resume and not any(self.dir.glob("chunk-*.npy")):
            old = None  # an earlier run stopped before finishing a chunk: nothing to keep
        if old is not None and not resume:
            raise MatcherError(
                f"{name} holds the completed chunks of an interrupted run: pass `resume=True` to continue it, "
                f"or delete {name} to start over"
            )
        if old is not None:
            sums = old.pop(_CHUNK_SUMS, None)
            diff = [k for k in sorted(set(old) | set(manifest)) if old.get(k) != manifest.get(k)]
            if diff:
                what = ", ".join(_describe(k, old.get(k), manifest.get(k)) for k in diff)
                raise MatcherError(
                    f"cannot resume: the interrupted run in {name} differs in {what}; rerun it with the same "
                    f"model, schools and options, or delete {name} to start over"
                )
            self._manifest = manifest
            self._sums = {k: v for k, v in sums.items() if isinstance(v, str)} if isinstance(sums, dict) else {}
            done = {c for c in range(len(chunks)) if self._valid(c, chunks[c])}
            self._sums = {k: v for k, v in self._sums.items() if k.isdigit() and int(k) in done}
            return done
        for f in self.dir.glob("chunk-*.npy"):  # no manifest: nothing trustworthy to resume
            f.unlink(missing_ok=True)
        self._manifest, self._sums = manifest, {}
        self._save_manifest(fsync=True)
        return set()

    def _save_manifest(self, fsync: bool = False) -> None:
        """Write the manifest with the chunk sums recorded so far (atomically)."""

        from matcher.files import atomic_write

        with atomic_write(self.dir / _MANIFEST, "w", fsync=fsync) as fh:
            json.dump({**self._manifest, _CHUNK_SUMS: dict(sorted(self._sums.items()))}, fh, indent=2, sort_keys=True)
            fh.write("\n")

    def _valid(self, c: int, rows: np.ndarray) -> bool:

        path = self.chunk_path(c)
        if not path.exists():
            return False
        try:
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != self._sums.get(f"{c:06d}"):
                raise ValueError("sha256 differs")  # damaged, or never recorded
            part = np.load(io.BytesIO(data), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            path.unlink(missing_ok=True)
            return False
        if part.dtype != PART_DTYPE or not np.isin(part["school"], rows).all():
            path.unlink(missing_ok=True)
            return False
        return True

    def write(self, c: int, part: np.ndarray) -> None:

        from matcher.files import atomic_write

        buf = io.BytesIO()
        np.save(buf, part, allow_pickle=False)
        data = buf.getvalue()
        # No fsync: a chunk that did not reach the disk fails its sha256 on resume and is ranked again.
        with atomic_write(self.chunk_path(c), "wb", fsync=False) as fh:
            fh.write(data)
            self._sums[f"{c:06d}"] = hashlib.sha256(data).hexdigest()
            self._save_manifest()  # before the chunk moves into place

    def read_all(self, n_chunks: int) -> np.ndarray:
        parts = [np.load(self.chunk_path(c), allow_pickle=False) for c in range(n_chunks)]
        return np.concatenate(parts) if parts else np.zeros(0, PART_DTYPE)

    def remove(self, n_chunks: int) -> None:
        for c in range(n_chunks):
            self.chunk_path(c).unlink(missing_ok=True)
        (self.dir / _MANIFEST).unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        (self.dir / ".lock").unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:  # something else was put there: leave it
            pass


def _describe(key: str, old, new) -> str:
    if key in ("model_sha256", "schools_sha256", "state_sha256", "plan_sha256"):
        return {"model_sha256": "the model", "schools_sha256": "the schools", "state_sha256": "the outreach state",
                "plan_sha256": "the chunk plan"}[key]
    return f"{key} ({old!r} then, {new!r} now)"


def sha256_arrays(*arrays) -> str:

    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        if a.dtype == object:
            for v in a:
                b = str(v).encode("utf-8")
                h.update(len(b).to_bytes(8, "little"))
                h.update(b)
        else:
            h.update(str(a.dtype).encode())
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def model_fingerprint(model) -> str:
    """sha256 of everything in a fitted model that ranking reads."""
    S, P = model.schools_, model.partners_

    meta = json.dumps({"weights": model.weights_, "geo": model.geo_length_km, "radius": model.default_radius_km,
                       "enc": model.featurizer_.encoder_info, "types": list(model.featurizer_.partner_type_slugs)},
                      sort_keys=True)
    return sha256_arrays(
        np.array([meta], dtype=object), model.school_ids_, model.partner_ids_,
        *(getattr(S, f) for f in S.__dataclass_fields__), *(getattr(P, f) for f in P.__dataclass_fields__),
    )


def state_digest(state) -> str | None:
    if state is None:
        return None

    blob = json.dumps(
        {
            "excluded": sorted(map(list, state.excluded)),
            "used": sorted(state.used_capacity.items()),
            "status": sorted([list(k) + [v] for k, v in state.status.items()]),
        }
    )
    return sha256_arrays(np.array([blob], dtype=object))

