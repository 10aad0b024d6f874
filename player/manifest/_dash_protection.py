"""DASH ``ContentProtection`` elements to ``ContentProtection`` model entries."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import xml.etree.ElementTree as ET

from player.errors import ManifestParseError, redact_url
from player.manifest._dash_values import attr_str
from player.manifest._model import ContentProtection
from player.manifest._urls import resolve_url

__all__: list[str] = []

log = logging.getLogger(__name__)

MP4_PROTECTION = "urn:mpeg:dash:mp4protection:2011"
SEA_PROTECTION = "urn:mpeg:dash:sea:2012"
_UUID_PREFIX = "urn:uuid:"
_HEX32 = re.compile(r"[0-9a-f]{32}")
_LICENSE_ELEMENTS = ("Laurl", "laurl", "licenseUrl")


def normalize_kid(raw: str, *, url: str) -> str:
    """Return a KID as 32 lowercase hex digits (dashes and braces removed).

    >>> normalize_kid("4060A865-8878-4267-9CBF-91AE5BAE1E72", url="https://a/")
    '4060a865887842679cbf91ae5bae1e72'

    Raises:
        ManifestParseError: Not 16 bytes of hex.
    """
    kid = raw.strip().strip("{}").replace("-", "").lower()
    if not _HEX32.fullmatch(kid):
        raise ManifestParseError(
            f"{url}: default_KID {raw[:60]!r} is not a 16-byte hex key id",
            url=url,
            detail="bad default_KID",
        )
    return kid


def parse_protections(
    elements: list[ET.Element], *, base: str, url: str
) -> tuple[ContentProtection, ...]:
    """Read the ``ContentProtection`` elements of one level (AdaptationSet or Representation).

    The ``mp4protection`` element gives the scheme and default KIDs; DRM-system elements
    (``urn:uuid:...``) inherit both when they do not state their own KID.

    Args:
        elements: The ``ContentProtection`` elements, in manifest order.
        base: Base URL that relative license URLs are resolved against.
        url: Manifest URL, for errors.

    Returns:
        One entry per element, in manifest order.

    Raises:
        ManifestParseError: A KID or license URL is malformed.
    """
    scheme: str | None = None
    shared_kids: list[str] = []
    own_kids = [_kids(el, url=url) for el in elements]
    for el, found in zip(elements, own_kids, strict=True):
        if (attr_str(el, "schemeIdUri") or "").lower() == MP4_PROTECTION:
            scheme = scheme or attr_str(el, "value")
            shared_kids.extend(found)
    out: list[ContentProtection] = []
    for el, found in zip(elements, own_kids, strict=True):
        scheme_uri = (attr_str(el, "schemeIdUri") or "").lower()
        kids = tuple(dict.fromkeys(found or shared_kids))
        if scheme_uri == MP4_PROTECTION:
            out.append(ContentProtection(None, scheme=attr_str(el, "value"), default_kids=kids))
        elif scheme_uri == SEA_PROTECTION:
            out.append(_sea(el, base=base, url=url))
        else:
            system_id = _system_id(scheme_uri)
            out.append(
                ContentProtection(
                    system_id,
                    scheme=scheme,
                    default_kids=kids,
                    pssh=_pssh(el, url=url),
                    license_url=_license_url(el, base=base, url=url),
                )
            )
    return tuple(out)


def _kids(el: ET.Element, *, url: str) -> list[str]:
    """The element's default KIDs.

    One that is not a 16-byte hex id is ignored with a warning, as players do: the rest of the
    MPD stays playable.
    """
    raw = attr_str(el, "default_KID")
    if not raw:
        return []
    kids = []
    for part in raw.split():
        try:
            kids.append(normalize_kid(part, url=url))
        except ManifestParseError:
            log.warning(
                "%s: ignoring cenc:default_KID %r: not a 16-byte key id", redact_url(url), part[:60]
            )
    return kids


def _system_id(scheme_uri: str) -> str | None:
    """Lowercase UUID with dashes from ``urn:uuid:...``, or ``None`` for other schemes."""
    if not scheme_uri.startswith(_UUID_PREFIX):
        return None
    hexdigits = scheme_uri[len(_UUID_PREFIX) :].replace("-", "")
    if not _HEX32.fullmatch(hexdigits):
        return None
    h = hexdigits
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _pssh(el: ET.Element, *, url: str) -> bytes | None:
    """Decode the first ``cenc:pssh`` child; an undecodable one is ignored, as players do."""
    for child in el.iter("pssh"):
        text = "".join((child.text or "").split())
        if not text:
            continue
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            log.debug("%s: ignoring a cenc:pssh that is not base64", redact_url(url))
    return None


def _license_url(el: ET.Element, *, base: str, url: str) -> str | None:
    """``dashif:Laurl`` / ``clearkey:Laurl`` text, or ``ms:laurl@licenseUrl``."""
    for name in _LICENSE_ELEMENTS:
        for child in el.iter(name):
            target = (child.text or "").strip() or attr_str(child, "licenseUrl")
            if target:
                return resolve_url(base, target, manifest_url=url)
    return None


def _sea(el: ET.Element, *, base: str, url: str) -> ContentProtection:
    """MPEG-DASH SEA whole-segment AES-128: the key URI goes in ``license_url``."""
    key_uri = None
    iv = None
    for child in el.iter("CryptoPeriod"):
        template = attr_str(child, "keyUriTemplate")
        if template:
            key_uri = resolve_url(base, template, manifest_url=url)
            iv = _sea_iv(attr_str(child, "IV"))
            break
    return ContentProtection(None, scheme="AES-128", license_url=key_uri, iv=iv)


def _sea_iv(text: str | None) -> bytes | None:
    """``0x`` + 32 hex digits, as in ``CryptoPeriod@IV``; anything else is ignored."""
    if not text:
        return None
    digits = text[2:] if text[:2].lower() == "0x" else text
    if len(digits) != 32:
        return None
    try:
        return bytes.fromhex(digits)
    except ValueError:
        return None
