"""Security: who may run each write and release command, where, and who may answer its buttons; how SQL
is built; and that no secret is ever written to SQLite.

Every write/release command (/push, /refresh, /world, /release dry-run, /release publish, /status) is run
  * by a member of the bot's guild who lacks the role,
  * in a DM,
  * in another guild by a member who holds roles of the same names there,
and each time the refusal is checked (ephemeral, says why) together with the stand-ins' request logs:
nothing reached the relay or Foundry.
"""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path

import pytest

from cogs.utils.errors import is_expected
from tests.conftest import OTHER_TOKEN, RELAY_KEY, RELEASE_TOKEN, SECRETS
from tests.harness.driver import CommandNotAvailable, HarnessError
from tests.helpers import run_until_button

ROOT = Path(__file__).resolve().parents[1]
PAGE = "https://foundryvtt.com/packages/my-module/edit/"

# --- helpers ------------------------------------------------------------------------------------------


def manifest_doc(package="my-module", version="1.2.0") -> dict:
    return {
        "id": package,
        "title": "My Module",
        "version": version,
        "compatibility": {"minimum": "12", "verified": "13"},
    }


def serve(foundry, package="my-module", version="1.2.0") -> str:
    return foundry.serve_manifest(f"manifests/{package}/v{version}/module.json", manifest_doc(package, version))


def push_file(obj) -> tuple[str, bytes]:
    return ("codex.json", json.dumps(obj).encode())


def release_posts(foundry) -> list:
    return [r for r in foundry.requests if r.method == "POST"]


class Traffic:
    """What reached the stand-ins (relay and Foundry, manifests included) since it was created."""

    def __init__(self, env):
        self.env = env
        self.relay_before = len(env.relay.requests())
        self.foundry_before = len(env.foundry.requests)

    @property
    def relay(self) -> list:
        return self.env.relay.requests()[self.relay_before :]

    @property
    def foundry(self) -> list:
        return self.env.foundry.requests[self.foundry_before :]

    def assert_nothing_sent(self, what: str) -> None:
        assert self.relay == [], f"{what}: reached the relay: {[(r.method, r.path) for r in self.relay]}"
        assert self.foundry == [], f"{what}: reached Foundry: {[(r.method, r.path) for r in self.foundry]}"


def options_for(env, command: str) -> dict:
    """Valid options for `command` (the refusal must not depend on bad options)."""
    if command == "push":
        return {"name": "Baron Vell", "data": push_file({"data": {"description": "<p>x</p>"}})}
    if command.startswith("release "):
        return {"package": "my-module", "manifest": serve(env.foundry)}
    if command in ("reveal", "hide"):
        return {"name": "Baron Vell"}
    return {}


WRITE_COMMANDS = ["push", "reveal", "hide", "refresh", "world", "release dry-run", "release publish", "status"]


def assert_refused(result, *, expect: str, what: str) -> None:
    assert result.acknowledged, f"{what}: no answer at all"
    assert result.ephemeral, f"{what}: the refusal was public"
    assert expect in result.text, f"{what}: {result.text!r}"
    assert all(is_expected(e) for e in result.errors), f"{what}: {result.errors}"
    assert not any(m.buttons for m in result.messages), f"{what}: a refused command offered buttons"


@pytest.fixture
async def world_with_baron(gm_env):
    gm_env.world.add_entry(
        "Baron Vell", flags={"campaign-codex": {"type": "npc", "data": {"description": "<p>Old</p>"}}}
    )
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    assert "Name map refreshed" in result.text, result.text
    return gm_env


# --- a member without the role ----------------------------------------------------------------------


@pytest.mark.parametrize("command", WRITE_COMMANDS)
async def test_a_member_without_the_role_is_refused_and_nothing_is_sent(world_with_baron, command):
    env = world_with_baron
    traffic = Traffic(env)
    result = await env.h.slash(env.player, env.channel, command, **options_for(env, command))
    expect = {
        "status": "Only GMs and maintainers",
        "release dry-run": "Only members with the Maintainer role",
        "release publish": "Only members with the Maintainer role",
    }.get(command, "Only members with the GM role")
    assert_refused(result, expect=expect, what=f"/{command} by a player")
    traffic.assert_nothing_sent(f"/{command} by a player")
    assert env.foundry.published["my-module"] == ["1.0.0"]


async def test_gm_and_maintainer_roles_do_not_stand_in_for_each_other(world_with_baron):
    env = world_with_baron
    traffic = Traffic(env)
    for command in ("release dry-run", "release publish"):
        result = await env.h.slash(env.gm, env.channel, command, **options_for(env, command))
        assert_refused(result, expect="Only members with the Maintainer role", what=f"/{command} by a GM")
    for command in ("push", "reveal", "hide", "refresh", "world"):
        result = await env.h.slash(env.maintainer, env.channel, command, **options_for(env, command))
        assert_refused(result, expect="Only members with the GM role", what=f"/{command} by a maintainer")
    # Manifests were served by the Foundry stand-in before the run: only requests matter.
    traffic.assert_nothing_sent("cross-role commands")


# --- in a DM ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", WRITE_COMMANDS + ["lookup"])
async def test_in_a_dm_discord_does_not_offer_the_guild_synced_command(gm_env, command):
    traffic = Traffic(gm_env)
    options = options_for(gm_env, command) if command != "lookup" else {"name": "Baron Vell"}
    with pytest.raises(HarnessError, match="not a synced slash command|not available in DMs"):
        await gm_env.h.slash(gm_env.gm.user, gm_env.h.dm(gm_env.gm), command, **options)
    traffic.assert_nothing_sent(f"/{command} in a DM")


@pytest.mark.parametrize("command", WRITE_COMMANDS + ["lookup"])
async def test_in_a_dm_a_globally_synced_command_is_refused_by_the_bot(world_with_baron, command):
    """After `--sync-global` the commands are global, so Discord offers them in DMs: the bot must refuse."""
    env = world_with_baron
    await env.h.sync()
    # The same person holds every role in the guild; in a DM there is no guild, so no role counts.
    boss = env.h.member(env.guild, "boss", roles=["GM", "Maintainer"])
    traffic = Traffic(env)
    options = options_for(env, command) if command != "lookup" else {"name": "Baron Vell"}
    try:
        result = await env.h.slash(boss.user, env.h.dm(boss), command, **options)
    except CommandNotAvailable:
        result = None  # guild-only in the schema: Discord would not even offer it
    if result is not None:
        assert_refused(result, expect="only in the campaign's server", what=f"/{command} in a DM")
    traffic.assert_nothing_sent(f"/{command} in a DM")
    assert env.foundry.published["my-module"] == ["1.0.0"]


@pytest.mark.parametrize(
    "command, option",
    [("lookup", "name"), ("reveal", "name"), ("players link", "user"), ("release dry-run", "package")],
)
async def test_in_a_dm_a_globally_synced_autocomplete_offers_nothing(world_with_baron, command, option):
    """Autocomplete applies the commands' server checks: in a DM (no server, no world) it names nothing."""
    env = world_with_baron
    await env.h.sync()
    boss = env.h.member(env.guild, "boss", roles=["GM", "Maintainer"])
    traffic = Traffic(env)
    for typed in ("", "Ba"):
        choices = await env.h.autocomplete(boss.user, env.h.dm(boss), command, option, typed)
        assert choices == [], f"/{command} {option} in a DM offered {choices}"
    traffic.assert_nothing_sent(f"/{command} autocomplete in a DM")


# --- in another guild -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", WRITE_COMMANDS + ["lookup"])
async def test_in_another_guild_discord_does_not_offer_the_guild_synced_command(gm_env, command):
    other = gm_env.h.guild("Other", roles=["GM", "Maintainer"])
    channel = gm_env.h.channel(other, "general")
    intruder = gm_env.h.member(other, "intruder", roles=["GM", "Maintainer"])
    traffic = Traffic(gm_env)
    options = options_for(gm_env, command) if command != "lookup" else {"name": "Baron Vell"}
    with pytest.raises(HarnessError, match="not a synced slash command|synced to another guild"):
        await gm_env.h.slash(intruder, channel, command, **options)
    traffic.assert_nothing_sent(f"/{command} in another guild")


@pytest.mark.parametrize("command", WRITE_COMMANDS + ["lookup"])
async def test_in_another_guild_a_globally_synced_command_is_refused_even_with_the_role_names(
    world_with_baron, command
):
    env = world_with_baron
    await env.h.sync()
    other = env.h.guild("Other", roles=["GM", "Maintainer"])
    channel = env.h.channel(other, "general")
    # The same person as the guild's GM, with roles of the same names in their own server.
    intruder = env.h.member(other, env.gm.user, roles=["GM", "Maintainer"])
    traffic = Traffic(env)
    options = options_for(env, command) if command != "lookup" else {"name": "Baron Vell"}
    result = await env.h.slash(intruder, channel, command, **options)
    assert_refused(result, expect="This bot serves only its own servers", what=f"/{command} in another guild")
    traffic.assert_nothing_sent(f"/{command} in another guild")
    assert "Old" not in result.text  # no campaign data leaks to the other server
    assert other.id in env.h.fake.left_guilds  # and the bot left the server it was added to


# --- role given as an id, per-package roles -----------------------------------------------------------


async def test_gm_role_given_as_a_role_id_works(world_with_baron):
    env = world_with_baron
    gm_role = env.guild.role("GM")
    env.bot.settings.gm_role = str(gm_role.id)
    result = await env.h.slash(env.gm, env.channel, "refresh")
    assert "Name map refreshed" in result.text, result.text

    traffic = Traffic(env)
    refused = await env.h.slash(env.player, env.channel, "refresh")
    # The refusal names the role, never its id.
    assert_refused(refused, expect="Only members with the GM role", what="/refresh by a player")
    assert str(gm_role.id) not in refused.text
    traffic.assert_nothing_sent("/refresh by a player (GM_ROLE as id)")

    task, preview_id = await run_until_button(
        env.h, env.gm, env.channel, "push", name="Baron Vell", data=push_file({"data": {"description": "<p>New</p>"}})
    )
    await env.h.click(env.gm, preview_id, label="Confirm")
    assert "Pushed to Baron Vell" in (await task).text
    assert len(env.relay.requests("/update")) == 1


async def test_a_role_named_like_the_role_ids_digits_is_not_that_role(world_with_baron):
    """An all-digit setting is an id: it matches ids only. Anyone who may create roles could otherwise name
    one after the GM role's id (which /help used to print) and become a GM."""
    env = world_with_baron
    gm_role = env.guild.role("GM")
    env.bot.settings.gm_role = str(gm_role.id)
    impostor_role = env.h.role(env.guild, str(gm_role.id))
    impostor = env.h.member(env.guild, "impostor", roles=[impostor_role])
    traffic = Traffic(env)
    for command in ("refresh", "push", "reveal"):
        refused = await env.h.slash(impostor, env.channel, command, **options_for(env, command))
        assert_refused(refused, expect="Only members with the GM role", what=f"/{command} by a digits-named role")
    looked = await env.h.slash(impostor, env.channel, "lookup", name="Baron Vell")
    assert "GM view" not in looked.text
    assert [r.path for r in traffic.relay if r.method != "GET"] == []  # nothing written
    assert all(r.query.get("userId") for r in traffic.relay if r.path == "/get")  # read as a player, if at all

    maintainer_role = env.guild.role("Maintainer")
    env.bot.settings.maintainer_role = {"*": str(maintainer_role.id)}
    fake_maintainer = env.h.member(env.guild, "fake-dev", roles=[env.h.role(env.guild, str(maintainer_role.id))])
    url = serve(env.foundry)
    before = Traffic(env)
    refused = await env.h.slash(fake_maintainer, env.channel, "release dry-run", package="my-module", manifest=url)
    assert_refused(refused, expect="Only members with the Maintainer role", what="dry run by a digits-named role")
    before.assert_nothing_sent("a role named with the maintainer role's id")

    # The name setting matches names only: a role whose id is the digits of GM_ROLE's name is not it either.
    env.bot.settings.gm_role = "GM"
    assert "Name map refreshed" in (await env.h.slash(env.gm, env.channel, "refresh")).text


async def test_help_never_prints_a_role_id(world_with_baron):
    env = world_with_baron
    gm_role = env.guild.role("GM")
    env.bot.settings.gm_role = str(gm_role.id)
    shown = await env.h.slash(env.player, env.channel, "help")
    assert "GM role (GM)" in shown.text
    assert str(gm_role.id) not in f"{[m.payload for m in shown.messages]}"


async def test_maintainer_role_given_as_a_role_id_works(gm_env):
    role = gm_env.guild.role("Maintainer")
    gm_env.bot.settings.maintainer_role = {"*": str(role.id)}
    url = serve(gm_env.foundry)
    ok = await gm_env.h.slash(gm_env.maintainer, gm_env.channel, "release dry-run", package="my-module", manifest=url)
    assert "Dry run passed" in ok.text, ok.text
    traffic = Traffic(gm_env)
    refused = await gm_env.h.slash(gm_env.gm, gm_env.channel, "release dry-run", package="my-module", manifest=url)
    assert_refused(refused, expect="Only members with the Maintainer role", what="dry run by a GM")
    assert str(role.id) not in refused.text
    traffic.assert_nothing_sent("dry run without the maintainer role id")


@pytest.mark.parametrize("settings_overrides", [{"maintainer_role": '{"*": "Maintainer", "other-module": "GM"}'}])
async def test_per_package_maintainer_roles_from_json(gm_env):
    mine, theirs = serve(gm_env.foundry), serve(gm_env.foundry, "other-module")
    h, ch = gm_env.h, gm_env.channel

    traffic = Traffic(gm_env)
    for who, package, url, role in (
        (gm_env.maintainer, "other-module", theirs, "GM"),
        (gm_env.gm, "my-module", mine, "Maintainer"),
    ):
        for command in ("release dry-run", "release publish"):
            refused = await h.slash(who, ch, command, package=package, manifest=url)
            assert_refused(refused, expect=f"Only members with the {role} role can release {package}", what=command)
    traffic.assert_nothing_sent("per-package refusals")

    assert (
        "Dry run passed — other-module"
        in (await h.slash(gm_env.gm, ch, "release dry-run", package="other-module", manifest=theirs)).text
    )
    assert (
        "Dry run passed — my-module"
        in (await h.slash(gm_env.maintainer, ch, "release dry-run", package="my-module", manifest=mine)).text
    )
    assert [p.body["id"] for p in release_posts(gm_env.foundry)] == ["other-module", "my-module"]


@pytest.mark.parametrize("settings_overrides", [{"maintainer_role": '{"my-module": "Maintainer"}'}])
async def test_a_package_with_no_role_in_the_json_and_no_default_is_refused_to_everyone(gm_env):
    h = gm_env.h
    boss = h.member(gm_env.guild, "boss", roles=["GM", "Maintainer", "Player"])
    url = serve(gm_env.foundry, "other-module")
    traffic = Traffic(gm_env)
    for command in ("release dry-run", "release publish"):
        result = await h.slash(boss, gm_env.channel, command, package="other-module", manifest=url)
        assert_refused(result, expect="can release other-module", what=command)
    traffic.assert_nothing_sent("package without a maintainer role")


# --- Confirm / Cancel answer only the invoker -------------------------------------------------------


def make_public(h, message_id: int) -> None:
    """The preview is ephemeral, so Discord shows it to nobody else; to test the bot's own check we press
    its buttons as another member would if it were public."""
    h.fake.messages[message_id].payload["flags"] = 0


async def start(env, command: str):
    if command == "push":
        return await run_until_button(
            env.h,
            env.gm,
            env.channel,
            "push",
            name="Baron Vell",
            data=push_file({"data": {"description": "<p>New</p>"}}),
        ), env.gm
    url = serve(env.foundry)
    return await run_until_button(
        env.h, env.maintainer, env.channel, "release publish", package="my-module", manifest=url
    ), env.maintainer


def written(env, command: str) -> int:
    if command == "push":
        return len(env.relay.requests("/update")) + len(env.relay.requests("/create"))
    return len([p for p in release_posts(env.foundry) if p.body.get("dry-run") is not True])


@pytest.mark.parametrize("command", ["push", "release publish"])
@pytest.mark.parametrize("label", ["Confirm", "Cancel"])
async def test_only_the_invoker_can_answer_the_buttons(world_with_baron, command, label):
    env = world_with_baron
    h = env.h
    (task, preview_id), owner = await start(env, command)
    with pytest.raises(HarnessError, match="ephemeral"):
        await h.click(env.player, preview_id, label=label)  # Discord does not even show it to them

    make_public(h, preview_id)
    same_role = h.member(env.guild, "co-owner", roles=["GM", "Maintainer"])
    for intruder in (env.player, same_role):
        refused = await h.click(intruder, preview_id, label=label)
        assert "Only the person who ran this command can answer it." in refused.text
        assert refused.ephemeral and not refused.errors
        assert not task.done(), f"{intruder.name}'s {label} click decided the command"
        assert written(env, command) == 0
        assert h.fake.messages[preview_id].payload.get("components"), "the buttons went away"
    assert env.foundry.published["my-module"] == ["1.0.0"]

    await h.click(owner, preview_id, label=label)
    result = await task
    assert not result.errors
    if label == "Confirm":
        assert written(env, command) == 1
        assert ("Pushed to Baron Vell" if command == "push" else "Released my-module 1.2.0") in result.text
    else:
        assert written(env, command) == 0
        assert (
            "Cancelled; nothing was sent" if command == "push" else "Cancelled; nothing was released"
        ) in result.text
    assert h.fake.messages[preview_id].payload.get("components") in (None, [])


async def start_world(env, who):
    h = env.h
    newest = max(h.fake.messages, default=0)
    task = asyncio.create_task(h.slash(who, env.channel, "world"))
    menu = await h.wait_for(
        lambda: next((m for m in h.fake.messages.values() if m.id > newest and m.payload.get("components")), None),
        what="the /world menu",
    )
    return task, menu


def select_of(menu) -> dict:
    return menu.payload["components"][0]["components"][0]


async def test_only_the_invoker_can_pick_in_the_world_menu(gm_env):
    env = gm_env
    h = env.h
    env.relay.add_world("client-two", "Second Campaign", online=True)
    task, menu = await start_world(env, env.gm)
    menu.payload["flags"] = 0  # ephemeral: nobody else sees it; press as if it were public
    co_gm = h.member(env.guild, "cogm", roles=["GM"])
    for intruder in (env.player, co_gm):
        refused = await h.click(intruder, menu.id, custom_id=select_of(menu)["custom_id"], values=["client-two"])
        assert "Only the person who ran /world can choose." in refused.text and refused.ephemeral
        assert not task.done()
    assert await env.app.gm.world_choices.get(env.guild.id) is None
    await h.click(env.gm, menu.id, custom_id=select_of(menu)["custom_id"], values=["client-two"])
    assert "Second Campaign" in (await task).text
    assert (await env.app.gm.world_choices.get(env.guild.id)).client_id == "client-two"


# --- SQL is never built by string formatting ------------------------------------------------------

# aiosqlite's and the stores' methods, and asyncpg's.
SQL_METHODS = {"execute", "executemany", "executescript", "fetchall", "fetchone", "fetch", "fetchrow", "fetchval"}
# Functions that only render SQL for PostgreSQL (placeholders renumbered, migration types mapped): their
# argument is checked in their place, so a formatted query passed through one is still caught.
SQL_RENDERERS = {"postgres_sql", "for_postgres"}
# The one documented exception: PRAGMA takes no parameters; the value is the migration's own integer.
ALLOWED_FORMATTED_SQL = {'f"PRAGMA user_version = {int(version)}"'}


def _assignments(func: ast.AST, name: str) -> list[ast.AST] | None:
    """Every value assigned to `name` in `func` (None when it is a parameter or a loop variable)."""
    if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = func.args
        if name in {a.arg for a in args.args + args.posonlyargs + args.kwonlyargs}:
            return None
    values: list[ast.AST] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                values.append(node.value)
        elif (
            isinstance(node, (ast.AugAssign, ast.AnnAssign))
            and isinstance(node.target, ast.Name)
            and node.target.id == name
            and node.value is not None
        ):
            values.append(node.value)
        elif (
            isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension))
            and isinstance(node.target, ast.Name)
            and node.target.id == name
        ):
            return None
    return values


def _sql_problem(
    node: ast.AST, func: ast.AST, source: str, *, whole: bool, seen: frozenset = frozenset()
) -> str | None:
    """Why `node` (an SQL argument) is built unsafely, or None. `whole`: the node is the entire argument
    (an opaque parameter passed straight through is fine then, not when glued to other text)."""
    text = ast.get_source_segment(source, node) or ast.dump(node)
    if isinstance(node, ast.Constant):
        return None if isinstance(node.value, str) else f"non-string SQL {text}"
    if isinstance(node, ast.JoinedStr):
        return None if text in ALLOWED_FORMATTED_SQL else f"f-string SQL {text}"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in SQL_RENDERERS
        and len(node.args) == 1
        and not node.keywords
    ):
        return _sql_problem(node.args[0], func, source, whole=whole, seen=seen)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return f"%-formatted SQL {text}"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("format", "format_map", "join", "replace")
    ):
        return f".{node.func.attr}() SQL {text}"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _sql_problem(node.left, func, source, whole=False, seen=seen) or _sql_problem(
            node.right, func, source, whole=False, seen=seen
        )
    if isinstance(node, ast.Name):
        if node.id in seen:
            return None
        values = _assignments(func, node.id)
        if values is None:  # a parameter or loop variable: checked where it comes from
            return None if whole else f"SQL glued to the opaque value {node.id!r}: {text}"
        if not values:
            return None if whole else f"SQL glued to the unknown name {node.id!r}: {text}"
        for value in values:
            problem = _sql_problem(value, func, source, whole=whole, seen=seen | {node.id})
            if problem:
                return f"{node.id} = {problem}"
        return None
    return None if whole and isinstance(node, (ast.Attribute, ast.Subscript)) else f"SQL built from {text}"


def sql_problems(source: str, filename: str = "<src>") -> list[str]:
    tree = ast.parse(source, filename)
    problems: list[str] = []

    def visit(scope: ast.AST) -> None:
        for node in ast.walk(scope):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_METHODS:
                if not node.args:
                    continue
                problem = _sql_problem(node.args[0], enclosing[id(node)], source, whole=True)
                if problem:
                    problems.append(f"{filename}:{node.lineno}: {problem}")

    enclosing: dict[int, ast.AST] = {}
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                enclosing[id(node)] = func  # innermost wins: nested functions are walked later
    for node in ast.walk(tree):
        enclosing.setdefault(id(node), tree)
    visit(tree)
    return problems


def test_the_sql_check_catches_real_regressions():
    bad = {
        "f-string": "async def f(conn, world):\n    await conn.execute(f\"DELETE FROM t WHERE world = '{world}'\")",
        "percent": "async def f(conn, world):\n    await conn.execute(\"DELETE FROM t WHERE world = '%s'\" % world)",
        "format": 'async def f(conn, w):\n    await conn.executemany("INSERT INTO t VALUES ({})".format(w), [])',
        "concat-param": 'async def f(db, column):\n    return await db.fetchall("SELECT " + column + " FROM t")',
        "via-variable": 'async def f(db, w):\n    sql = f"SELECT * FROM t WHERE w = {w}"\n    return await db.fetchone(sql)',
        "augmented": 'async def f(db, w):\n    sql = "SELECT * FROM t"\n    sql += " WHERE w = " + w\n    return await db.fetchall(sql)',
        "other-pragma": 'async def f(conn, n):\n    await conn.execute(f"PRAGMA cache_size = {n}")',
        "join": 'async def f(conn, cols):\n    await conn.execute(", ".join(cols))',
        "rendered": 'async def f(conn, w):\n    await conn.fetch(postgres_sql(f"SELECT * FROM t WHERE w = {w}"))',
        "asyncpg": 'async def f(conn, w):\n    await conn.fetchval("SELECT " + w)',
    }
    for name, source in bad.items():
        assert sql_problems(source), f"the SQL check missed a {name} query"
    good = (
        "async def f(db, package_id, limit):\n"
        '    sql = "SELECT * FROM t"\n'
        "    params = ()\n"
        "    if package_id:\n"
        '        sql += " WHERE package_id = ?"\n'
        "        params = (package_id,)\n"
        '    return await db.fetchall(sql + " LIMIT ?", (*params, limit))\n'
        "async def g(conn, version):\n"
        '    await conn.execute(f"PRAGMA user_version = {int(version)}")\n'
        "async def h(conn, sql, params):\n"
        "    return await conn.fetch(postgres_sql(sql), *params)\n"
    )
    assert sql_problems(good) == []


def test_storage_builds_no_sql_by_string_formatting():
    files = sorted((ROOT / "storage").glob("*.py"))
    assert len(files) >= 4
    problems: list[str] = []
    allowed_seen = 0
    for path in files:
        source = path.read_text(encoding="utf-8")
        problems += sql_problems(source, path.name)
        allowed_seen += sum(source.count(line) for line in ALLOWED_FORMATTED_SQL)
    assert problems == [], "\n".join(problems)
    assert allowed_seen == 1, "the documented PRAGMA user_version line moved or multiplied; review the exception"


def test_migrations_are_constant_sql():
    """Migration statements reach `conn.execute(statement)` as a loop variable: they must be literals."""
    source = (ROOT / "storage" / "migrations.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    [assign] = [
        n
        for n in tree.body
        if isinstance(n, (ast.Assign, ast.AnnAssign))
        and "MIGRATIONS" in ast.get_source_segment(source, n).split("=")[0]
    ]
    statements = [n for n in ast.walk(assign.value) if not isinstance(n, (ast.List, ast.Tuple, ast.Load))]
    assert statements
    for node in statements:
        assert isinstance(node, ast.Constant) and isinstance(node.value, str), ast.get_source_segment(source, node)


def test_the_sql_check_sees_a_planted_regression_in_a_storage_file():
    """The same check, run over a real storage file with one query rewritten as an f-string."""
    source = (ROOT / "storage" / "name_map.py").read_text(encoding="utf-8")
    planted = source.replace(
        '"SELECT uuid, name, folder FROM name_entries WHERE world = ? ORDER BY name COLLATE NOCASE", (world,)',
        "f\"SELECT uuid, name, folder FROM name_entries WHERE world = '{world}'\"",
        1,
    )
    assert planted != source
    assert sql_problems(source) == []
    assert any("f-string" in p for p in sql_problems(planted))


# --- no secret in SQLite ------------------------------------------------------------------------------


def fragments(secret: str, size: int = 12) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)} | {secret}


async def test_no_secret_is_stored_in_sqlite_after_every_command(world_with_baron):
    env = world_with_baron
    h = env.h
    # /push: an update and a create (with a rename).
    task, preview_id = await run_until_button(
        h,
        env.gm,
        env.channel,
        "push",
        name="Baron Vell",
        rename="Baron Vell II",
        data=push_file({"data": {"description": "<p>New</p>"}}),
    )
    await h.click(env.gm, preview_id, label="Confirm")
    assert "Pushed" in (await task).text
    task, preview_id = await run_until_button(
        h, env.gm, env.channel, "push", name="Old Mill", data=push_file({"type": "location", "data": {}})
    )
    await h.click(env.gm, preview_id, label="Confirm")
    assert "Created" in (await task).text
    # /refresh, /world, /status.
    assert "Name map refreshed" in (await h.slash(env.gm, env.channel, "refresh")).text
    task, menu = await start_world(env, env.gm)
    await h.click(
        env.gm, menu.id, custom_id=select_of(menu)["custom_id"], values=[select_of(menu)["options"][0]["value"]]
    )
    assert "World chosen" in (await task).text
    await h.slash(env.gm, env.channel, "status")
    # /release: a dry run, a failing one whose answer echoes the token, a publish, a 429 cooldown.
    url = serve(env.foundry)
    assert (
        "Dry run passed"
        in (await h.slash(env.maintainer, env.channel, "release dry-run", package="my-module", manifest=url)).text
    )
    env.foundry.fail_next(
        400,
        json.dumps(
            {"status": "error", "errors": {"__all__": [{"message": f"bad token {RELEASE_TOKEN}", "code": "x"}]}}
        ),
        content_type="application/json",
    )
    await h.slash(env.maintainer, env.channel, "release dry-run", package="my-module", manifest=url)
    task, preview_id = await run_until_button(
        h, env.maintainer, env.channel, "release publish", package="my-module", manifest=url
    )
    await h.click(env.maintainer, preview_id, label="Confirm")
    assert "Released my-module 1.2.0" in (await task).text
    env.foundry.fail_next(429, "", content_type="text/plain", headers={"Retry-After": "60"})
    other = serve(env.foundry, "other-module")
    await h.slash(env.maintainer, env.channel, "release dry-run", package="other-module", manifest=other)
    assert await env.app.releases.store.history()  # the log was written

    database = env.bot.settings.database_path
    files = [p for p in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if p.exists()]
    assert database in files
    stored = b"".join(p.read_bytes() for p in files)
    assert b"Baron Vell II" in stored or b"Old Mill" in stored  # the scan reads what was written
    secrets = {
        *SECRETS,
        RELAY_KEY,
        RELEASE_TOKEN,
        OTHER_TOKEN,
        env.bot.settings.relay_api_key.get_secret_value(),
        *(t.get_secret_value() for t in env.bot.settings.release_tokens.values()),
    }
    for secret in secrets:
        for piece in fragments(secret):
            for encoding in ("utf-8", "utf-16-le"):
                assert piece.encode(encoding) not in stored, (
                    f"a fragment of a secret is stored in SQLite ({piece[:4]}…)"
                )


def test_fragments_cover_every_12_character_window():
    assert fragments("abcdefghijklmn") == {"abcdefghijkl", "bcdefghijklm", "cdefghijklmn", "abcdefghijklmn"}
