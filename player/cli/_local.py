"""Playing a manifest from disk: its folder is served over loopback HTTPS by the lab's CDN.

QA engineers keep content on disk. ``play ./content/manifest.mpd`` serves the manifest's
folder with the lab's static-file server (HTTPS on HTTP/3 and HTTP/1.1-2, a test CA made for
the run) and plays ``https://127.0.0.1:PORT/manifest.mpd``, exactly as it would play it from
a CDN. Nothing is loosened: the manifest reaches the files under its own folder (the server
refuses ``..``, symlinks out and anything else outside it) and whatever http(s) URLs it
names; a manifest fetched from the network still never reaches a file, because only
http(s) URLs are ever followed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from player.cli._args import BadInput
from player.errors import redact_url

__all__: list[str] = []


def local_manifest(source: str) -> Path | None:
    """The local file ``source`` names, or ``None`` when it is an http(s) URL.

    Raises:
        BadInput: A URL scheme other than http, https or file; or no such readable file.
    """
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        return None
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
    elif len(parts.scheme) > 1:  # "C:" style drive letters are paths, not schemes
        raise BadInput(
            f"unsupported URL scheme {parts.scheme!r} in {redact_url(source)!r}: "
            "give an http(s) URL or a manifest file path"
        )
    else:
        path = Path(source).expanduser()
    if not path.exists():
        raise BadInput(f"no such file: {source}")
    if path.is_dir():
        raise BadInput(f"{source} is a directory; give the manifest file inside it")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise BadInput(f"cannot read {source}: {exc.strerror or exc}") from exc
    return path.resolve()


def ca_bundle(files: list[str], folder: Path) -> str | None:
    """One PEM file trusting every CA in ``files`` (``None`` for none, the file for one)."""
    if len(files) <= 1:
        return files[0] if files else None
    bundle = folder / "ca-bundle.pem"
    bundle.write_bytes(b"\n".join(Path(f).read_bytes().strip() for f in files) + b"\n")
    return str(bundle)


@contextmanager
def serve_folder(manifest: Path) -> Iterator[tuple[str, str]]:
    """Serve the manifest's folder over loopback; yields ``(manifest URL, CA file)``.

    Raises:
        BadInput: The lab extra (hypercorn) is not installed.
    """
    try:
        from transport.lab import LabCdn, TestCA
    except ImportError as exc:
        raise BadInput(
            f"playing a local file needs the lab extra (pip install 'streamsdk[lab]'): {exc}"
        ) from exc
    with tempfile.TemporaryDirectory(prefix="streamsdk-local-") as tmp:
        ca = TestCA(Path(tmp) / "ca")
        cdn = LabCdn(manifest.parent, edges=0, ca=ca).start_in_thread()
        try:
            yield f"{cdn.origin.base_url}/{quote(manifest.name)}", cdn.ca_file
        finally:
            cdn.stop()
