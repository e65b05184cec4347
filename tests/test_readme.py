"""README.md's reference tables say what the code does: the /opp commands, the environment, the configuration file."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(heading: str) -> str:
    """The text under a heading (`## Using it`), up to the next heading of any level."""
    start = README.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(r"^#{1,6} ", README[start:], re.MULTILINE)
    return README[start:start + following.start()] if following else README[start:]


def first_cells(text: str) -> list[str]:
    """The first cell of every row of the first table in `text` (the header and the --- line left out)."""
    lines = text[text.index("\n|"):].splitlines()[1:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            if rows:
                break
            continue
        # a `\|` inside a cell is a literal bar (`by industry\|region`), not a cell boundary
        rows.append(re.split(r"(?<!\\)\|", line)[1].strip())
    return rows[2:]


def test_the_command_table_is_the_registry():
    import handlers  # noqa: F401 - the listeners bind every registered subcommand
    from bot.slack.commands import REGISTRY

    rows = first_cells(section("## Using it"))
    documented = [name for row in rows for name in re.findall(r"`/opp (\w+)", row)]
    assert rows and all(re.findall(r"`/opp \w+", row) for row in rows), "a row of the /opp table names no /opp command"
    assert set(REGISTRY) - set(documented) == set(), "subcommands missing from README.md's /opp table"
    assert set(documented) - set(REGISTRY) == set(), "README.md's /opp table names subcommands the registry lacks"


def test_the_environment_table_is_what_settings_reads():
    source = (ROOT / "bot" / "settings.py").read_text()
    read = set(re.findall(r'_(?:required|optional)\(env, "([A-Z0-9_]+)"\)', source))
    assert {"SLACK_BOT_TOKEN", "DATABASE_URL", "PORT"} <= read, "the scan of bot/settings.py found nothing"
    assert set(re.findall(r'env(?:\.get)?[\[(]"([A-Z0-9_]+)"', source)) <= read, "settings.py reads a key another way"
    documented = [re.fullmatch(r"`([A-Z0-9_]+)`", cell) for cell in first_cells(section("### Environment"))]
    assert all(documented), "a row of the environment table is not one `KEY`"
    keys = {match.group(1) for match in documented if match}
    assert read - keys == set(), "environment variables bot/settings.py reads but README.md doesn't document"
    assert keys - read == set(), "environment variables README.md documents but bot/settings.py never reads"


def documented_config() -> dict[str, set[str]]:
    """`[table]` / `[[table]]` -> the keys the configuration table documents for it (`[[stages]]` as "stages",
    `[[pipelines.stages]]` as "pipelines.stages")."""
    tables: dict[str, set[str]] = {}
    for cell in first_cells(section("### Workspace configuration file (`OPPBOT_CONFIG`)")):
        spans = re.findall(r"`([^`]*)`", cell)
        head = re.fullmatch(r"(\[\[?)([\w.]+)(\]\]?) ?(.*)", spans[0]) if spans else None
        assert head, f"a row of the configuration table doesn't start with `[table] key`: {cell}"
        brackets, table, closing, first = head.groups()
        arrays = {"stages", "teams", "pipelines", "pipelines.stages"}
        assert (brackets, closing) == (("[[", "]]") if table in arrays else ("[", "]")), f"{cell}: {table} is written wrong"
        keys = tables.setdefault(table, set())
        if table == "exchange_rates":  # `[exchange_rates] EUR = { rate = 7.82, set_on = 2026-11-30 }`
            keys |= set(re.findall(r"(\w+) =", first.split("{", 1)[-1]))
        else:
            keys |= {key for key in (first, *spans[1:]) if key}
    return tables


def test_the_configuration_table_is_the_config_schema():
    from bot.workspace import config

    schema = {
        "workspace": config._WORKSPACE_KEYS,
        "stages": config._STAGE_KEYS,
        "pipelines": config._PIPELINE_KEYS - {"stages"},  # its stages are the [[pipelines.stages]] rows
        "pipelines.stages": config._STAGE_KEYS,
        "outcomes": config._OUTCOME_KEYS,
        "teams": config._TEAM_KEYS,
        "assignment": config._ASSIGNMENT_KEYS,
        "exchange_rates": config._RATE_KEYS,  # the keys of each currency's inline table
    }
    assert {table.split(".")[0] for table in schema} == config._TOP_KEYS, "a top-level table of bot/workspace/config.py is missing from this test"
    documented = documented_config()
    assert set(documented) == set(schema), "the configuration table's tables are not the file's"
    for table, keys in schema.items():
        assert keys - documented[table] == set(), f"[{table}] keys README.md doesn't document"
        assert documented[table] - keys == set(), f"[{table}] keys README.md documents but the config file refuses"


def test_the_healthz_answers_are_written_as_the_server_sends_them():
    """README says what bot/server.py answers (tests/test_health.py checks the answers themselves): JSON with a status,
    200 "ok" or 503 "unavailable" with reasons; nowhere a plain "200 ok"."""
    server = (ROOT / "bot" / "server.py").read_text()
    assert 'report["status"] = "unavailable" if reasons else "ok"' in server and 'report["reasons"] = reasons' in server
    items = [" ".join(item.split()) for item in re.split(r"\n(?=- |\d+\. )|\n\n", README)]
    mentions = [item for item in items if "/healthz" in item and re.search(r"\b(200|503)\b", item)]
    assert mentions, "README.md says nowhere what /healthz answers"
    assert not [line for line in mentions if "200 `ok`" in line], "/healthz answers JSON, not a plain ok"
    described = next(line for line in mentions if "200 when all is well" in line)
    assert '"status": "ok"' in described and '`"status": "unavailable"` and `reasons`' in described


def test_the_shortcuts_readme_names_are_the_manifests():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    line = next(line for line in README.splitlines() if line.startswith("- Shortcuts:"))
    names = {s["name"] for s in manifest["features"]["shortcuts"]}
    assert set(re.findall(r"\*\*([^*]+)\*\*", line)) == names, "README.md's shortcuts are not manifest.yml's"


def test_the_table_reader_reads_tables():
    """The checks above fail on a wrong table, not pass on an unread one."""
    assert first_cells("text\n| a | b |\n| --- | --- |\n| `x` \\| y | 1 |\n| `z` | 2 |\n\nafter\n| w | 3 |\n") == ["`x` \\| y", "`z`"]
