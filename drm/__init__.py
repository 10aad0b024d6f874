"""DRM: PSSH, ClearKey license exchange, CENC and HLS AES decryption (sans-I/O cores)."""

from __future__ import annotations

from drm._boxes import Box, BoxNode, find_box, iter_boxes, read_box_tree
from drm._decrypt import CencDecryptor, clear_init_segment, decrypt_mp4
from drm._hls_key import (
    check_hls_key,
    configured_hls_key,
    describe_key_uri,
    hls_key_from_data_uri,
)
from drm._keys import ContentKey, KeySource, key_lookup, keys_from_hex
from drm._license import (
    LicenseCache,
    LicenseExchange,
    LicenseFetcher,
    LicenseRequest,
    LicenseResponse,
    PersistentLicense,
    SessionType,
    b64url_decode,
    b64url_encode,
    build_clearkey_request,
    parse_clearkey_response,
    parse_persistent_license,
)
from drm._manager import KeyAcquisition, KeyManager
from drm._mp4 import (
    FragmentSample,
    InitInfo,
    TrackEncryption,
    TrackInfo,
    iter_fragment_samples,
    parse_init,
)
from drm._packager import package_mp4
from drm._pssh import (
    CLEARKEY_SYSTEM_ID,
    COMMON_SYSTEM_ID,
    PLAYREADY_SYSTEM_ID,
    WIDEVINE_SYSTEM_ID,
    Pssh,
    build_pssh,
    collect_key_ids,
    find_pssh,
    normalize_kid,
    parse_pssh,
)
from drm._segment import decrypt_hls_segment, hls_iv, hls_iv_from_hex, hls_key_iv, pkcs7_unpad
from drm._server import LicenseServerApp
from drm._ts import decrypt_sample_aes_ts
from drm.config import (
    DrmConfig,
    LicensePolicy,
    LicenseServerConfig,
)
from drm.errors import (
    BoxError,
    DecryptionError,
    DrmConfigError,
    DrmError,
    HlsKeyError,
    KeyNotFound,
    LicenseError,
    LicenseExpired,
    UnsupportedKeySystem,
)

__all__ = [
    "Box",
    "BoxError",
    "BoxNode",
    "CLEARKEY_SYSTEM_ID",
    "COMMON_SYSTEM_ID",
    "CencDecryptor",
    "ContentKey",
    "DecryptionError",
    "DrmConfig",
    "DrmConfigError",
    "DrmError",
    "FragmentSample",
    "HlsKeyError",
    "InitInfo",
    "KeyAcquisition",
    "KeyManager",
    "KeyNotFound",
    "KeySource",
    "LicenseCache",
    "LicenseError",
    "LicenseExchange",
    "LicenseExpired",
    "LicenseFetcher",
    "LicensePolicy",
    "LicenseRequest",
    "LicenseResponse",
    "LicenseServerApp",
    "LicenseServerConfig",
    "PLAYREADY_SYSTEM_ID",
    "PersistentLicense",
    "Pssh",
    "SessionType",
    "TrackEncryption",
    "TrackInfo",
    "UnsupportedKeySystem",
    "WIDEVINE_SYSTEM_ID",
    "b64url_decode",
    "b64url_encode",
    "build_clearkey_request",
    "build_pssh",
    "check_hls_key",
    "clear_init_segment",
    "collect_key_ids",
    "configured_hls_key",
    "decrypt_hls_segment",
    "decrypt_mp4",
    "decrypt_sample_aes_ts",
    "describe_key_uri",
    "find_box",
    "find_pssh",
    "hls_iv",
    "hls_iv_from_hex",
    "hls_key_from_data_uri",
    "hls_key_iv",
    "iter_boxes",
    "iter_fragment_samples",
    "key_lookup",
    "keys_from_hex",
    "normalize_kid",
    "package_mp4",
    "parse_clearkey_response",
    "parse_init",
    "parse_persistent_license",
    "parse_pssh",
    "pkcs7_unpad",
    "read_box_tree",
]
