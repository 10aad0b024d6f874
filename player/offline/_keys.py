"""The keys a download needs, and the persistent license that provides them.

The KIDs come from the manifest (``default_KID``, HLS ClearKey key ids) and from the
downloaded init segments' ``tenc`` boxes. HLS keys of whole segments (AES-128) and of
``SAMPLE-AES`` MPEG-TS come as playback would take them: given out of band
(``DrmConfig.hls_keys``, or ``DrmConfig.keys`` by the tag's KID or the KID Shaka Packager
writes in a ``data:`` URI), else fetched from their http(s) key URI; a ``data:`` URI that
carries the key itself stays in the local playlist. Content keys given in ``DrmConfig.keys``
are used as they are; the others are asked of the license server as a ClearKey
``persistent-license`` (the server decides whether the entitlement allows offline playback,
and for how long).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from drm import (
    CLEARKEY_SYSTEM_ID,
    DrmError,
    KeyManager,
    KeyNotFound,
    check_hls_key,
    configured_hls_key,
    parse_init,
)
from player._protection import TransportLicenseFetcher
from player.config import PlayerConfig
from player.manifest import HlsKey
from player.offline._license_store import StoredLicense
from player.offline._plan import DownloadPlan
from transport import HttpClient

__all__: list[str] = []

_log = logging.getLogger(__name__)

_FULL_SEGMENT_METHODS = frozenset({"AES-128", "AES-256", "AES-256-CTR"})
"""HLS methods that encrypt whole segments (as ``player._protection`` decrypts them)."""


def _is_fetched(key: HlsKey) -> bool:
    """Whether playback would fetch the key from its URI (an identity key at http/https)."""
    return (
        key.keyformat == "identity"
        and key.uri is not None
        and key.uri.startswith(("https://", "http://"))
    )


def needed_kids(plan: DownloadPlan, folder: Path) -> set[str]:
    """Every KID the downloaded renditions need: declared, and in their init segments.

    Reads the init files from ``folder`` (they are downloaded first); call it in a thread.
    """
    kids: set[str] = set()
    inits: set[str] = set()
    for rendition in plan.renditions:
        kids.update(rendition.chosen.representation.kids)
        inits.update(s.init_path for s in rendition.segments if s.init_path is not None)
    for path in sorted(inits):
        try:
            kids.update(parse_init((folder / path).read_bytes()).key_ids())
        except (DrmError, OSError):
            continue  # not an ISO BMFF init (or unreadable): it declares no KIDs
    return kids


def segment_keys(plan: DownloadPlan) -> list[HlsKey]:
    """The HLS keys playback looks up itself (by URI, or by KID), each once.

    Those of whole-segment methods (AES-128, AES-256) and of ``SAMPLE-AES`` in MPEG-TS (no
    init segment), as ``player._protection`` decrypts them. ``SAMPLE-AES`` and
    ``SAMPLE-AES-CTR`` in fMP4 are CENC: their keys go by KID (``needed_kids``).
    """
    found: dict[tuple[str | None, str | None], HlsKey] = {}
    for rendition in plan.renditions:
        rep_init = rendition.chosen.representation.init
        for local in rendition.segments:
            segment = local.segment
            key = segment.key
            if key is None or key.method == "NONE":
                continue
            in_ts = key.method == "SAMPLE-AES" and segment.init is None and rep_init is None
            if key.method in _FULL_SEGMENT_METHODS or in_ts:
                found.setdefault((key.uri, key.key_id), key)
    return list(found.values())


def license_url_of(plan: DownloadPlan) -> str | None:
    """The ClearKey license URL the manifest gives, if any."""
    urls = [
        p
        for r in plan.renditions
        for p in r.chosen.representation.protections
        if p.license_url is not None
    ]
    for protection in urls:
        if protection.system_id in (None, CLEARKEY_SYSTEM_ID):
            return protection.license_url
    return urls[0].license_url if urls else None


async def acquire(
    plan: DownloadPlan,
    *,
    kids: set[str],
    existing: StoredLicense | None,
    config: PlayerConfig,
    http: HttpClient,
    wall: Callable[[], float],
) -> tuple[StoredLicense | None, bool]:
    """The license for the download: the stored one if it still covers it, else a new one.

    Returns:
        The license (``None`` for clear content) and whether the stored one was reused.

    Raises:
        LicenseError: The server refused (e.g. 403: no offline rights) or failed.
        KeyNotFound: Encrypted content without a license server or keys.
        TransportError: An HLS key URI could not be fetched.
        HlsKeyError: An HLS key is not 16 (or 32) bytes.
    """
    by_uri: dict[str, tuple[HlsKey, bytes | None]] = {}  # None: fetched from the URI
    by_kid: dict[str, str] = {}
    for key in segment_keys(plan):
        configured = configured_hls_key(config.drm, uri=key.uri, key_id=key.key_id)
        if key.uri is None:
            if configured is not None and key.key_id is not None:
                by_kid[key.key_id] = configured.hex()
        elif configured is not None or _is_fetched(key):
            by_uri[key.uri] = (key, configured)
        # else a data: URI that carries its key: the local playlist keeps it
    kids = kids | set(by_kid)
    if not kids and not by_uri:
        return None, False
    if existing is not None and existing.covers(kids, set(by_uri), now=wall()):
        return existing, True
    given = {kid: config.drm.keys[kid] for kid in kids if kid in config.drm.keys} | by_kid
    missing = sorted(kids - set(given))
    fetched = any(secret is None for _, secret in by_uri.values())
    source = "key-uri" if fetched and not kids else "keys"
    stored = StoredLicense(keys=given, acquired_at_s=wall(), source=source)
    if missing:
        url = config.drm.license_url or license_url_of(plan)
        manager = KeyManager(config.drm, fetcher=TransportLicenseFetcher(http))
        if url is None:
            raise KeyNotFound(
                f"the content needs a key for KID {missing[0]}: give a license server "
                "(--license-url) or the keys (--keys, --keys-file)",
                key_id=missing[0],
            )
        found = await manager.acquire_persistent(missing, license_url=url)
        stored = StoredLicense.from_persistent(
            found, acquired_at_s=wall(), license_url=url, extra_keys=given
        )
        _log.info("persistent license for %d KIDs, expires at %s", len(missing), found.expires_at_s)
    secrets: dict[str, str] = {}
    for uri, (key, secret) in by_uri.items():
        if secret is None:
            secret = (await http.fetch(uri)).content
        check_hls_key(secret, method=key.method, uri=uri)
        secrets[uri] = secret.hex()
    return dataclasses.replace(stored, hls_keys=secrets), False
