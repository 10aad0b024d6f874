"""CMCD through the transport and the lab: headers on every HTTP version, the edges' log.

``HttpClient.fetch(..., headers=...)`` must put the ``CMCD-*`` headers on the wire over
HTTP/1.1, HTTP/2 and HTTP/3 alike, and a lab edge must read them (or the ``CMCD`` query
argument) the way CTA-5004-B section 6 tells a server to, into ``RequestRecord.cmcd``, the
request log file and ``python -m transport lab --request-log``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_lab_cli import start_lab

from transport import HttpClient, HttpStatusError, TransportConfig
from transport._cli import build_parser
from transport.lab import LabCdn, LabCdnThread, MemoryContent, SfItem, SfToken, TestCA

HEADERS = {
    "CMCD-Object": "br=(3000;v),d=4000,ot=v,tb=(6000;v)",
    "CMCD-Request": 'bl=(2100;v),dl=2100,mtp=(15000),nor=("seg-2.m4s";r="0-999"),su',
    "CMCD-Session": 'cid="movie",sf=d,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",st=v,v=2',
    "CMCD-Status": "bs,pr=0.0",
}
QUERY = "CMCD=bl%3D%282100%3Bv%29%2Cot%3Dv%2Csid%3D%22s%20q%22%2Cv%3D2"

PROTOCOLS = {
    "1.1": TransportConfig(protocol="h1", is_http2_enabled=False),
    "2": TransportConfig(protocol="h1", is_http2_enabled=True),
    "3": TransportConfig(protocol="h3"),
}


def _last(lab: LabCdnThread, path: str) -> Any:
    return next(r for r in reversed(lab.edges[0].requests) if r.path == path)


@pytest.mark.parametrize("version", sorted(PROTOCOLS))
async def test_cmcd_headers_reach_the_edge_on_every_http_version(
    lab: LabCdnThread, version: str
) -> None:
    config = PROTOCOLS[version]
    async with HttpClient(TransportConfig(**{**_fields(config), "ca_file": lab.ca_file})) as http:
        response = await http.fetch(f"{lab.edges[0].base_url}/video/seg-1.m4s", headers=HEADERS)
    assert response.status == 200
    record = _last(lab, "/video/seg-1.m4s")
    assert record.http_version == version
    got = record.cmcd
    assert got is not None and got.source == "header" and got.error is None
    assert got.header_of == {
        **dict.fromkeys(("br", "d", "ot", "tb"), "cmcd-object"),
        **dict.fromkeys(("bl", "dl", "mtp", "nor", "su"), "cmcd-request"),
        **dict.fromkeys(("cid", "sf", "sid", "st", "v"), "cmcd-session"),
        **dict.fromkeys(("bs", "pr"), "cmcd-status"),
    }
    assert got.value("br") == (SfItem(3000, {"v": True}),)
    assert got.value("nor") == (SfItem("seg-2.m4s", {"r": "0-999"}),)
    assert got.value("sid") == "6e2fb550-c457-11e9-bb97-0800200c9a66"
    assert got.value("ot") == SfToken("v") and got.value("pr") == 0.0
    assert got.value("su") is True and got.value("bs") is True and got.version == 2


@pytest.mark.parametrize("version", ["1.1", "3"])
async def test_query_argument_is_read_and_headers_win_over_it(
    lab: LabCdnThread, version: str
) -> None:
    config = TransportConfig(**{**_fields(PROTOCOLS[version]), "ca_file": lab.ca_file})
    url = f"{lab.edges[0].base_url}/small.bin?token=x&{QUERY}"
    async with HttpClient(config) as http:
        await http.fetch(url)
        query_only = _last(lab, "/small.bin")
        await http.fetch(url, headers={"CMCD-Session": 'sid="from-header"'})
        both = _last(lab, "/small.bin")
    assert query_only.query == f"token=x&{QUERY}"
    assert query_only.cmcd is not None and query_only.cmcd.source == "query"
    assert query_only.cmcd.value("sid") == "s q"
    assert query_only.cmcd.value("bl") == (SfItem(2100, {"v": True}),)
    # CTA-5004-B section 6 item 8: any CMCD header means the query argument is ignored
    assert both.cmcd is not None and both.cmcd.source == "header"
    assert dict(both.cmcd.fields) == {"sid": SfItem("from-header")}


async def test_a_request_without_cmcd_and_a_malformed_one(lab: LabCdnThread) -> None:
    config = TransportConfig(protocol="h1", ca_file=lab.ca_file)
    async with HttpClient(config) as http:
        await http.fetch(f"{lab.edges[0].base_url}/small.bin")
        assert _last(lab, "/small.bin").cmcd is None
        await http.fetch(
            f"{lab.edges[0].base_url}/small.bin",
            headers={"CMCD-Object": "ot=v", "CMCD-Request": "bl=(2000"},
        )
    bad = _last(lab, "/small.bin").cmcd
    assert bad is not None and bad.error is not None and "cmcd-request" in bad.error
    assert dict(bad.fields) == {"ot": SfItem(SfToken("v"))}  # the well-formed header is kept


async def test_request_log_file_has_one_json_line_per_request(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    with TestCA(tmp_path / "ca") as ca:
        cdn = LabCdn(MemoryContent({"/a.m4s": b"x" * 100}), edges=1, ca=ca, request_log=log)
        async with cdn:
            config = TransportConfig(protocol="h3", ca_file=cdn.ca_file)
            async with HttpClient(config) as http:
                await http.fetch(f"{cdn.edges[0].base_url}/a.m4s", headers=HEADERS)
                await http.fetch(f"{cdn.origin.base_url}/a.m4s?{QUERY}")
                with pytest.raises(HttpStatusError):
                    await http.fetch(f"{cdn.origin.base_url}/missing")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(x["edge"], x["path"], x["status"]) for x in lines] == [
        ("edge0", "/a.m4s", 200),
        ("origin", "/a.m4s", 200),
        ("origin", "/missing", 404),
    ]
    first, second, third = lines
    assert first["http_version"] == "3" and first["cmcd"]["source"] == "header"
    assert first["cmcd"]["keys"]["br"] == [{"value": 3000, "params": {"v": True}}]
    assert first["cmcd"]["keys"]["su"] is True and first["cmcd"]["keys"]["ot"] == "v"
    assert first["cmcd"]["header_of"]["pr"] == "cmcd-status"
    assert second["cmcd"] == {
        "source": "query",
        "keys": {"bl": [{"value": 2100, "params": {"v": True}}], "ot": "v", "sid": "s q", "v": 2},
    }
    assert third["cmcd"] is None and third["query"] == ""


async def test_lab_command_writes_the_request_log(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "v").mkdir(parents=True)
    (root / "v" / "seg.m4s").write_bytes(b"z" * 1000)
    log = tmp_path / "log" / "requests.jsonl"
    log.parent.mkdir()
    proc, info = start_lab("--root", str(root), "--edges", "1", "--request-log", str(log))
    try:
        ctx = ssl.create_default_context(cafile=str(info["ca_file"]))
        edges = info["edges"]
        assert isinstance(edges, list)
        async with httpx.AsyncClient(verify=ctx) as client:
            await client.get(f"{edges[0]}/v/seg.m4s", headers=HEADERS)
        for _ in range(50):
            if log.exists() and log.read_text():
                break
            await asyncio.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    (line,) = [json.loads(x) for x in log.read_text().splitlines()]
    assert line["path"] == "/v/seg.m4s" and line["edge"] == "edge0"
    assert line["cmcd"]["keys"]["sid"] == "6e2fb550-c457-11e9-bb97-0800200c9a66"


def test_lab_command_refuses_an_unwritable_request_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked while the arguments are read: a missing folder is created (as for play's
    reports), one that cannot be is refused in one line, exit 2."""
    created = tmp_path / "no" / "such" / "dir" / "log.jsonl"
    args = build_parser().parse_args(
        ["lab", "--root", str(tmp_path), "--request-log", str(created)]
    )
    assert args.request_log == created and created.parent.is_dir()
    (tmp_path / "a-file").write_text("")
    target = tmp_path / "a-file" / "log.jsonl"
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["lab", "--root", str(tmp_path), "--request-log", str(target)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"python -m transport lab: error: argument --request-log: cannot create the folder for "
        f"{target}"
    )
    assert len(err.splitlines()) == 1


def _fields(config: TransportConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in ("protocol", "is_http2_enabled")}
