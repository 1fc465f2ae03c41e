"""`vectorlite mcp` (stdio) and `/mcp` in `vectorlite serve` (streamable HTTP), driven by the
official MCP Python SDK: the tools and their schemas, every tool, the bad calls (tool errors,
and the server keeps serving), memories surviving a restart, and the API key over HTTP. Both
the current protocol and the older handshake (`mode="legacy"`) are exercised."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import time
import urllib.error
import urllib.request

import anyio
import httpx2
import pytest
from conftest import REPO, binary, serving
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

TOOLS = {"remember", "recall", "forget", "list_memories", "list_collections", "collection_info"}
MODES = ["auto", "legacy"]


def stdio(data_dir: pathlib.Path, model_dir: str) -> StdioServerParameters:
    args = ["mcp", "--data-dir", str(data_dir), "--model-dir", model_dir, "--collection", "notes"]
    return StdioServerParameters(command=binary(), args=args, env={"RUST_LOG": "warn"})


def run(coro_fn, *args):
    return anyio.run(coro_fn, *args)


async def call(client, name: str, arguments: dict) -> tuple[dict, str]:
    """A successful call: its structured content and its text."""
    result = await client.call_tool(name, arguments)
    text = "".join(getattr(c, "text", "") for c in result.content)
    assert not result.is_error, f"{name}({arguments}) failed: {text}"
    return result.structured_content, text


async def fails(client, name: str, arguments: dict) -> str:
    """A call that must come back as a tool error; returns its message."""
    result = await client.call_tool(name, arguments)
    text = "".join(getattr(c, "text", "") for c in result.content)
    assert result.is_error, f"{name}({arguments}) should have failed, got {text}"
    assert text, "a tool error carries a message"
    return text


async def check_tools(client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for t in tools.values():
        assert t.description and t.input_schema["type"] == "object", t.name
        assert t.output_schema is not None and t.output_schema["type"] == "object", t.name
        assert t.annotations is not None, t.name
    assert tools["recall"].input_schema["required"] == ["query"]
    assert {"query", "k", "filter", "min_score", "collection"} <= set(tools["recall"].input_schema["properties"])
    assert tools["remember"].input_schema["required"] == ["text"]
    for name in ("recall", "list_memories", "list_collections", "collection_info"):
        assert tools[name].annotations.read_only_hint is True, name
    assert tools["forget"].annotations.read_only_hint is False
    assert tools["forget"].annotations.destructive_hint is True
    assert tools["remember"].annotations.read_only_hint is False
    assert tools["remember"].annotations.destructive_hint is False


async def first_session(client) -> dict:
    """Remembers, recalls, lists, forgets; returns what must survive a restart."""
    await check_tools(client)
    one, text = await call(
        client, "remember", {"text": "Ann takes her coffee black, no sugar", "metadata": {"user": "ann"}}
    )
    assert one["collection"] == "notes" and len(one["ids"]) == 1 and "Remembered 1 memory" in text
    many, _ = await call(
        client,
        "remember",
        {
            "text": [
                "Bob is allergic to peanuts",
                "Bob's flight to Lisbon leaves on Friday at 9am",
                "Ann prefers window seats on long flights",
            ],
            "metadata": [{"user": "bob"}, {"user": "bob", "kind": "travel"}, {"user": "ann", "kind": "travel"}],
        },
    )
    assert len(many["ids"]) == 3 and len(set(many["ids"] + one["ids"])) == 4
    scratch, _ = await call(client, "remember", {"text": "scratch note", "metadata": {"session": "s1"}})

    found, text = await call(client, "recall", {"query": "how does Ann drink her coffee?", "k": 2})
    assert found["memories"][0]["text"] == "Ann takes her coffee black, no sugar"
    scores = [m["score"] for m in found["memories"]]
    assert len(scores) == 2 and scores == sorted(scores, reverse=True)
    assert "Ann takes her coffee black" in text
    bobs, _ = await call(client, "recall", {"query": "travel plans", "k": 5, "filter": {"user": "bob"}})
    assert bobs["memories"] and all(m["metadata"]["user"] == "bob" for m in bobs["memories"])
    travel, _ = await call(client, "recall", {"query": "flights", "filter": {"$and": [{"kind": "travel"}]}})
    assert {m["metadata"]["user"] for m in travel["memories"]} == {"ann", "bob"}
    close, _ = await call(client, "recall", {"query": "Bob is allergic to peanuts", "min_score": 0.99})
    assert [m["text"] for m in close["memories"]] == ["Bob is allergic to peanuts"]

    page, _ = await call(client, "list_memories", {"filter": {"user": "ann"}, "limit": 1})
    assert page["total"] == 2 and len(page["memories"]) == 1 and page["next_offset"] == 1
    assert "vector" not in page["memories"][0]
    rest, _ = await call(client, "list_memories", {"filter": {"user": "ann"}, "limit": 1, "offset": 1})
    assert rest["next_offset"] is None and rest["memories"][0]["id"] != page["memories"][0]["id"]
    everything, _ = await call(client, "list_memories", {})
    assert everything["total"] == 5 and [m["id"] for m in everything["memories"]] == sorted(
        m["id"] for m in everything["memories"]
    )

    cols, _ = await call(client, "list_collections", {})
    assert {"name": "notes", "count": 5, "dimension": 384} in cols["collections"]
    info, _ = await call(client, "collection_info", {})
    assert (info["name"], info["count"], info["dimension"], info["metric"]) == ("notes", 5, 384, "cosine")

    # Bad calls: tool errors with the library's message, and the server keeps serving.
    assert "nope" in await fails(client, "recall", {"query": "x", "collection": "nope"})
    assert "filter" in await fails(client, "recall", {"query": "x", "filter": {"$bogus": 1}})
    assert "filter" in await fails(client, "recall", {"query": "x", "filter": {"n": {"$gt": "a", "$lt": []}}})
    assert "empty" in await fails(client, "remember", {"text": ""})
    assert "empty" in await fails(client, "remember", {"text": []})
    assert "empty" in await fails(client, "recall", {"query": "  "})
    for k in (0, 101, -1, "five"):
        await fails(client, "recall", {"query": "coffee", "k": k})
    assert "query" in await fails(client, "recall", {})
    assert "unknown field" in await fails(client, "recall", {"query": "x", "top_k": 3})
    assert "not both" in await fails(client, "forget", {"ids": [0], "filter": {"user": "ann"}})
    await fails(client, "forget", {})
    assert "every memory" in await fails(client, "forget", {"filter": {}})
    assert "metadata" in await fails(client, "remember", {"text": "x", "metadata": [1, 2]})
    assert "metadata" in await fails(client, "remember", {"text": "x", "metadata": "not an object"})
    await fails(client, "remember", {"text": "x", "collection": "bad name!"})
    await fails(client, "remember", {"text": "x", "ttl_seconds": -5})
    await fails(client, "collection_info", {"collection": "nope"})
    with pytest.raises(MCPError):
        await client.call_tool("no_such_tool", {})
    again, _ = await call(client, "list_memories", {})
    assert again["total"] == 5, "bad calls changed nothing"

    gone, text = await call(client, "forget", {"ids": scratch["ids"]})
    assert gone["removed"] == 1 and "Forgot 1 memory" in text
    peanuts = many["ids"][0]
    gone, _ = await call(client, "forget", {"filter": {"user": "bob", "kind": "travel"}})
    assert gone["removed"] == 1
    left, _ = await call(client, "list_memories", {})
    assert left["total"] == 3
    return {"ann": sorted(one["ids"] + [many["ids"][2]]), "peanuts": peanuts}


async def second_session(client, kept: dict) -> None:
    anns, _ = await call(client, "list_memories", {"filter": {"user": "ann"}})
    assert [m["id"] for m in anns["memories"]] == kept["ann"]
    found, _ = await call(client, "recall", {"query": "what is Bob allergic to?", "k": 1})
    assert found["memories"][0]["id"] == kept["peanuts"]
    travel, _ = await call(client, "recall", {"query": "flight to Lisbon", "filter": {"user": "bob"}})
    assert all("Lisbon" not in m["text"] for m in travel["memories"]), "a forgotten memory came back"
    nothing, _ = await call(client, "recall", {"query": "scratch note", "filter": {"session": "s1"}})
    assert nothing["memories"] == []


@pytest.mark.parametrize("mode", MODES)
def test_stdio_round_trip_and_restart(tmp_path, model_dir, mode):
    params = stdio(tmp_path, model_dir)

    async def go():
        async with Client(params, mode=mode) as client:
            kept = await first_session(client)
        async with Client(params, mode=mode) as client:
            await second_session(client, kept)

    run(go)


def test_reads_before_anything_is_remembered_find_nothing(tmp_path, model_dir):
    async def go():
        async with Client(stdio(tmp_path, model_dir)) as client:
            found, text = await call(client, "recall", {"query": "anything"})
            assert found["memories"] == [] and "No memories" in text
            listed, _ = await call(client, "list_memories", {})
            assert listed["total"] == 0
            gone, _ = await call(client, "forget", {"filter": {"user": "x"}})
            assert gone["removed"] == 0
            cols, _ = await call(client, "list_collections", {})
            assert cols["collections"] == [] and cols["default_collection"] == "notes"

    run(go)


def test_stdio_exits_when_stdin_closes_and_writes_nothing_else(tmp_path, model_dir):
    args = stdio(tmp_path, model_dir).args
    proc = subprocess.Popen([binary(), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(input=b"", timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out == b"", "stdout carries protocol messages only"


def test_a_locked_data_directory_is_a_clear_failure(tmp_path, model_dir):
    params = stdio(tmp_path, model_dir)
    first = subprocess.Popen([binary(), *params.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while not (tmp_path / "LOCK").exists() or not (tmp_path / "LOCK").read_text().strip():
            assert time.time() < deadline
            time.sleep(0.05)
        second = subprocess.run([binary(), *params.args], check=False, input=b"", capture_output=True, timeout=60)
        assert second.returncode == 1 and b"lock" in second.stderr.lower(), second.stderr
    finally:
        first.stdin.close()
        assert first.wait(timeout=60) == 0


@pytest.fixture()
def served(tmp_path, model_dir):
    # Its clean SIGTERM exit also shows that open MCP sessions do not hold up the shutdown.
    with serving(tmp_path, model_dir, "--api-key", "sekret", "--mcp-collection", "notes") as url:
        yield url


def http_transport(url: str, key: str | None = "sekret"):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return streamable_http_client(url + "/mcp", http_client=httpx2.AsyncClient(headers=headers, timeout=60))


@pytest.mark.parametrize("mode", MODES)
def test_streamable_http_round_trip_shares_the_database(served, mode):
    async def go():
        async with Client(http_transport(served), mode=mode) as client:
            kept = await first_session(client)
        async with Client(http_transport(served), mode=mode) as client:
            await second_session(client, kept)

    run(go)
    # The REST API sees the same memories.
    req = urllib.request.Request(served + "/collections/notes", headers={"Authorization": "Bearer sekret"})
    with urllib.request.urlopen(req) as r:
        assert json.loads(r.read())["info"]["count"] == 3


def test_mcp_over_http_needs_the_api_key(served):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    req = urllib.request.Request(
        served + "/mcp",
        data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)
    assert info.value.code == 401
    assert json.loads(info.value.read())["error"]["code"] == "unauthorized"

    async def go():
        async with Client(http_transport(served, key="wrong")) as client:
            await client.list_tools()

    with pytest.raises(Exception):  # noqa: B017 - the SDK's failure type differs by protocol version
        run(go)


def readme_mcp_section() -> str:
    return (REPO / "README.md").read_text().split("## Memory for MCP clients", 1)[1].split("\n## ", 1)[0]


def readme_stdio_commands() -> list[list[str]]:
    """Every stdio command line the README's MCP section gives (JSON configs and Claude Code)."""
    section = readme_mcp_section()
    commands = []
    for block in re.findall(r"```json\n(.*?)```", section, re.DOTALL):
        config = json.loads(block)
        for entry in (config.get("mcpServers") or config.get("servers")).values():
            if "command" in entry:
                commands.append(entry["args"])
    for line in re.findall(r"^claude mcp add vectorlite -- vectorlite (.*)$", section, re.MULTILINE):
        commands.append(line.split())
    return commands


def test_the_readme_mcp_configurations_start_a_working_server(tmp_path, model_dir):
    commands = readme_stdio_commands()
    assert len(commands) >= 3, "the README lost its MCP client configurations"

    def local(args: list[str]) -> list[str]:
        out = list(args)
        out[out.index("--data-dir") + 1] = str(tmp_path)
        out[out.index("--model-dir") + 1] = model_dir
        return out

    async def go():
        for args in commands:
            assert args[0] == "mcp", args
            params = StdioServerParameters(command=binary(), args=local(args), env={"RUST_LOG": "warn"})
            async with Client(params) as client:
                assert {t.name for t in (await client.list_tools()).tools} == TOOLS

    run(go)
    urls = re.findall(r"http://127\.0\.0\.1:3001/mcp", readme_mcp_section())
    assert len(urls) >= 2, "the HTTP configurations point at the server's default address"
