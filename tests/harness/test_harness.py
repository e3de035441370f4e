"""Tests of the Discord test harness itself, against a tiny demo bot."""

from __future__ import annotations

import asyncio
import json

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.harness.driver import CommandNotAvailable, DiscordHarness, HarnessError

FRUITS = ["apple", "apricot", "banana", "blueberry", "cherry"] + [f"avocado-{i}" for i in range(40)]


class ConfirmView(discord.ui.View):
    def __init__(self, invoker_id: int) -> None:
        super().__init__(timeout=60)
        self.invoker_id = invoker_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.invoker_id:
            await interaction.response.send_message("Only the person who ran /deploy can confirm.", ephemeral=True)
            return False
        return True

    def _disable(self) -> None:
        for child in self.children:
            child.disabled = True  # type: ignore[attr-defined]

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger, custom_id="deploy:confirm")
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self._disable()
        await interaction.response.edit_message(content="Deploy confirmed.", view=self)
        self.stop()

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary, custom_id="deploy:cancel")
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self._disable()
        await interaction.response.edit_message(content="Deploy cancelled.", view=self)
        self.stop()


class Release(app_commands.Group):
    def __init__(self) -> None:
        super().__init__(name="release", description="Release tools")

    @app_commands.command(name="dry-run", description="Pretend to release")
    async def dry_run(self, interaction: discord.Interaction, version: str, notify: bool = False) -> None:
        await interaction.response.send_message(f"Dry run of {version} (notify={notify})", ephemeral=True)

    @app_commands.command(name="ship", description="Release for real")
    async def ship(self, interaction: discord.Interaction, version: str) -> None:
        await interaction.response.send_message(f"Shipped {version}")


class DemoBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default())
        self.setup_ran = False

        @self.tree.command(name="hello", description="Say hello with an embed")
        async def hello(interaction: discord.Interaction) -> None:
            embed = discord.Embed(title="Hello!", description=f"Hi {interaction.user.mention}")
            embed.add_field(name="Guild", value=interaction.guild.name if interaction.guild else "DM")
            if isinstance(interaction.user, discord.Member):
                embed.add_field(name="Roles", value=", ".join(r.name for r in interaction.user.roles[1:]) or "none")
            embed.set_footer(text="demo footer")
            await interaction.response.send_message(embed=embed, allowed_mentions=discord.AllowedMentions.none())

        @self.tree.command(name="slow", description="Defer, then follow up")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await asyncio.sleep(0.05)
            await interaction.followup.send("Slow work finished.")
            await interaction.followup.send("And a second follow-up.", ephemeral=True)

        async def fruit_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            matches = [f for f in FRUITS if f.startswith(current.lower())]
            return [app_commands.Choice(name=f, value=f) for f in matches[:25]]

        @self.tree.command(name="pick", description="Pick a fruit")
        @app_commands.autocomplete(fruit=fruit_autocomplete)
        async def pick(interaction: discord.Interaction, fruit: str, count: int = 1) -> None:
            await interaction.response.send_message(f"You picked {count} x {fruit}")

        async def greedy_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=f, value=f) for f in FRUITS]  # 45 > 25: Discord rejects

        @self.tree.command(name="greedy", description="Autocomplete with too many choices")
        @app_commands.autocomplete(fruit=greedy_autocomplete)
        async def greedy(interaction: discord.Interaction, fruit: str) -> None:
            await interaction.response.send_message(fruit)

        @self.tree.command(name="upload", description="Read an attachment")
        async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            await interaction.response.send_message(
                f"{file.filename}: {len(data)} bytes, first line {data.splitlines()[0].decode()!r}",
                file=discord.File(__import__("io").BytesIO(data[::-1]), filename="reversed.txt"),
            )

        @self.tree.command(name="deploy", description="Deploy with confirmation")
        async def deploy(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("Deploy to production?", view=ConfirmView(interaction.user.id))

        @self.tree.command(name="announce", description="Post in the channel")
        async def announce(interaction: discord.Interaction, text: str) -> None:
            await interaction.channel.send(
                f"Announcement: {text}", allowed_mentions=discord.AllowedMentions(everyone=False)
            )
            await interaction.response.send_message("Posted.", ephemeral=True)

        @self.tree.command(name="long", description="Reply with n characters")
        async def long(interaction: discord.Interaction, n: int) -> None:
            await interaction.response.send_message("x" * n)

        @self.tree.command(name="late", description="Defer, follow up, fall back to the channel")
        async def late(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            try:
                await interaction.followup.send("Here is your late result.")
            except discord.HTTPException:
                await interaction.channel.send(f"{interaction.user.mention} here is your late result.")

        self.tree.add_command(Release())

    async def setup_hook(self) -> None:
        self.setup_ran = True
        await self.tree.sync()


@pytest.fixture
async def h():
    async with DiscordHarness(DemoBot()) as harness:
        yield harness


@pytest.fixture
def world(h):
    g = h.guild("Acme", roles=["Admin", "Release"])
    alice = h.member(g, "alice", roles=["Admin"])
    bob = h.member(g, "bob")
    general = h.channel(g, "general")
    return g, alice, bob, general


async def test_login_setup_hook_and_world(h, world):
    g, alice, bob, general = world
    assert h.bot.setup_ran
    assert h.bot.user.id == h.fake.bot_id
    assert h.bot.application_id == h.fake.application_id
    guild = h.bot.get_guild(g.id)
    assert guild is not None and guild.name == "Acme"
    assert guild.get_role(g.role("Admin").id).name == "Admin"
    assert h.bot.get_channel(general.id).name == "general"
    assert {c["name"] for c in h.fake.global_commands} >= {"hello", "slow", "pick", "release"}
    # all traffic went to 127.0.0.1; first requests are login
    assert [r.route for r in h.requests[:2]] == ["GET /users/@me", "GET /oauth2/applications/@me"]


async def test_reply_with_embed_is_public(h, world):
    g, alice, bob, general = world
    r = await h.slash(alice, general, "hello")
    assert r.acknowledged and not r.deferred and not r.ephemeral
    assert r.response_time is not None and r.response_time < 3
    [embed] = r.response.embeds
    assert embed.title == "Hello!"
    assert embed.fields[0].value == "Acme"
    assert embed.fields[1].value == "Admin"  # member.roles resolved with names
    assert alice.mention in r.text and "demo footer" in r.text
    assert r.response.allowed_mentions == {"parse": []}
    assert r.errors == []


async def test_defer_then_followups(h, world):
    g, alice, bob, general = world
    r = await h.slash(alice, general, "slow")
    assert r.deferred and r.ephemeral
    assert r.response.content == "Slow work finished."  # replaced the "thinking" message
    assert not r.response.loading and r.response.ephemeral
    assert [m.content for m in r.followups] == ["Slow work finished.", "And a second follow-up."]
    assert r.followups[1].ephemeral
    assert "And a second follow-up." in r.text


async def test_autocomplete(h, world):
    g, alice, bob, general = world
    choices = await h.autocomplete(alice, general, "pick", "fruit", "ap")
    assert [c["name"] for c in choices] == ["apple", "apricot"]
    r = await h.slash(alice, general, "pick", fruit="banana", count=3)
    assert r.response.content == "You picked 3 x banana"


async def test_autocomplete_limit_violation(h, world):
    g, alice, bob, general = world
    with pytest.raises(HarnessError, match="did not answer autocomplete"):
        await h.autocomplete(alice, general, "greedy", "fruit", "")
    [v] = h.take_violations()
    assert v.kind == "invalid_form_body" and v.body["code"] == 50035
    assert "choices" in v.body["errors"]["data"]


async def test_attachment_is_downloaded_from_fake_cdn(h, world):
    g, alice, bob, general = world
    r = await h.slash(alice, general, "upload", file=("notes.txt", b"line one\nline two\n"))
    assert r.response.content == "notes.txt: 18 bytes, first line 'line one'"
    assert r.response.attachments == [("reversed.txt", b"line one\nline two\n"[::-1])]
    cdn = [q for q in h.requests if q.path.startswith("/cdn/")]
    assert len(cdn) == 1 and cdn[0].status == 200


async def test_confirm_by_invoker_and_refusal_for_others(h, world):
    g, alice, bob, general = world
    r = await h.slash(alice, general, "deploy")
    assert r.response.button_labels == ["Confirm", "Cancel"]
    assert not r.response.is_disabled("Confirm")

    refused = await h.click(bob, r.response, label="Confirm")
    assert refused.ephemeral
    assert "Only the person who ran /deploy" in refused.text
    assert r.response.content == "Deploy to production?"  # unchanged

    ok = await h.click(alice, r.response, label="Confirm")
    assert ok.callback_type == 7 and ok.response.id == r.response.id
    assert r.response.content == "Deploy confirmed."
    assert r.response.is_disabled("Confirm") and r.response.is_disabled(custom_id="deploy:cancel")
    with pytest.raises(HarnessError, match="disabled"):
        await h.click(alice, r.response, label="Cancel")


async def test_channel_message_captured(h, world):
    g, alice, bob, general = world
    r = await h.slash(alice, general, "announce", text="v2 is out")
    assert r.ephemeral and r.text == "Posted."
    [msg] = h.messages_in(general)
    assert msg.content == "Announcement: v2 is out"
    assert msg.allowed_mentions == {"parse": ["users", "roles"], "replied_user": True}


async def test_content_limit_violation(h, world):
    g, alice, bob, general = world
    ok = await h.slash(alice, general, "long", n=2000)
    assert ok.acknowledged
    r = await h.slash(alice, general, "long", n=2001)
    assert not r.acknowledged
    assert r.raised(discord.HTTPException)
    [v] = h.take_violations()
    assert v.kind == "invalid_form_body"
    assert v.body["errors"]["data"]["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    assert r.http_errors[0].status == 400


async def test_embed_limits_enforced_directly(h):
    fake = h.fake
    problems = fake.validate_message(
        {
            "embeds": [
                {
                    "title": "t" * 257,
                    "fields": [{"name": "n", "value": "v" * 1025}] + [{"name": "a", "value": "b"}] * 25,
                }
            ]
            * 11,
            "components": [
                {"type": 1, "components": [{"type": 2, "style": 1, "label": "l" * 81, "custom_id": "c" * 101}]}
            ]
            * 6,
        }
    )
    paths = {".".join(p) for p, _, _ in problems}
    assert {
        "embeds",
        "embeds.0.title",
        "embeds.0.fields",
        "embeds.0.fields.0.value",
        "components",
        "components.0.components.0.label",
        "components.0.components.0.custom_id",
    } <= paths


async def test_expired_interaction_falls_back_to_channel(h, world):
    g, alice, bob, general = world
    r = await h.slash(alice, general, "late", expire="after_ack")
    assert r.deferred
    [err] = r.http_errors
    assert err.path.startswith("/webhooks/") and err.status == 401
    assert err.response == {"message": "Invalid Webhook Token", "code": 50027}
    [msg] = h.messages_in(general)
    assert msg.content == f"{alice.mention} here is your late result."

    # fully expired: even the callback gets 404 Unknown interaction
    r2 = await h.slash(alice, general, "hello", expire="now")
    assert not r2.acknowledged
    assert r2.http_errors[0].response == {"message": "Unknown interaction", "code": 10062}
    assert r2.raised(discord.NotFound)


async def test_expire_interactions_later(h, world):
    g, alice, bob, general = world
    r = await h.slash(alice, general, "deploy")
    h.expire_interactions(r)
    # the old token is dead on every webhook route, exactly like Discord after 15 minutes
    import aiohttp

    base = f"{h.fake.api_base}/webhooks/{h.fake.application_id}/{r.record.token}"
    async with aiohttp.ClientSession() as s:
        async with s.patch(f"{base}/messages/@original", json={"content": "x"}) as resp:
            assert resp.status == 401 and (await resp.json())["code"] == 50027
        async with s.post(base, json={"content": "x"}) as resp:
            assert resp.status == 401
    # a click is a new interaction with a fresh token: still works
    r2 = await h.click(alice, r.response, label="Cancel")
    assert r2.acknowledged and r.response.content == "Deploy cancelled."


async def test_unsynced_command_fails_loudly(h, world):
    g, alice, bob, general = world

    @h.bot.tree.command(name="ghost", description="never synced")
    async def ghost(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("boo")

    with pytest.raises(HarnessError, match="never synced"):
        await h.slash(alice, general, "ghost")
    with pytest.raises(HarnessError, match="no such command"):
        await h.slash(alice, general, "nope")
    await h.sync()
    assert (await h.slash(alice, general, "ghost")).text == "boo"


async def test_wrong_option_name_or_type_fails_loudly(h, world):
    g, alice, bob, general = world
    with pytest.raises(HarnessError, match="no option 'fruits'"):
        await h.slash(alice, general, "pick", fruits="apple")
    with pytest.raises(HarnessError, match="INTEGER"):
        await h.slash(alice, general, "pick", fruit="apple", count="3")
    with pytest.raises(HarnessError, match="required option 'fruit' missing"):
        await h.slash(alice, general, "pick")
    with pytest.raises(HarnessError, match="not a synced subcommand"):
        await h.slash(alice, general, "release nope")


async def test_stale_sync_detected(h, world):
    g, alice, bob, general = world
    h.fake.global_commands = [
        {**c, "options": [o for o in c["options"] if o["name"] != "count"]} if c["name"] == "pick" else c
        for c in h.fake.global_commands
    ]
    with pytest.raises(HarnessError, match="stale sync"):
        await h.slash(alice, general, "pick", fruit="apple")


async def test_group_subcommands(h, world):
    g, alice, bob, general = world
    r = await h.slash(alice, general, "release dry-run", version="1.2.3", notify=True)
    assert r.ephemeral and r.text == "Dry run of 1.2.3 (notify=True)"
    r = await h.slash(alice, general, "release ship", version="2.0")
    assert not r.ephemeral and r.text == "Shipped 2.0"
    with pytest.raises(HarnessError, match="is a group"):
        await h.slash(alice, general, "release")


async def test_dm_and_other_guild(h, world):
    g, alice, bob, general = world
    dm = h.dm(alice.user)
    r = await h.slash(alice.user, dm, "hello")
    assert r.response.embeds[0].fields[0].value == "DM"
    assert "guild_id" not in r.payload and "user" in r.payload

    other = h.guild("Other Corp")
    alice_elsewhere = h.member(other, alice.user)
    lobby = h.channel(other, "lobby")
    r = await h.slash(alice_elsewhere, lobby, "hello")
    assert r.response.embeds[0].fields[0].value == "Other Corp"
    with pytest.raises(HarnessError, match="not of"):
        await h.slash(alice, lobby, "hello")


async def test_double_ack_rejected_by_fake(h, world):
    g, alice, bob, general = world
    r = await h.slash(alice, general, "hello")
    import aiohttp

    async with aiohttp.ClientSession() as s:
        url = f"{h.fake.api_base}/interactions/{r.interaction_id}/{r.record.token}/callback"
        async with s.post(url, json={"type": 4, "data": {"content": "again"}}) as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == 40060
        async with s.get(f"{h.fake.api_base}/guilds/1/bans") as resp:
            assert resp.status == 404
    kinds = [v.kind for v in h.take_violations()]
    assert kinds == ["already_acknowledged", "unknown_route"]
    assert h.fake.unknown_routes == ["GET /guilds/1/bans"]


async def test_ack_deadline_rule():
    class SlowAck(commands.Bot):
        def __init__(self) -> None:
            super().__init__(command_prefix="!", intents=discord.Intents.default())

            @self.tree.command(name="sleepy", description="acks late")
            async def sleepy(interaction: discord.Interaction) -> None:
                await asyncio.sleep(0.3)
                await interaction.response.send_message("too late")

        async def setup_hook(self) -> None:
            await self.tree.sync()

    async with DiscordHarness(SlowAck(), ack_deadline=0.1) as h:
        g = h.guild("G")
        m = h.member(g, "m")
        ch = h.channel(g, "c")
        r = await h.slash(m, ch, "sleepy")
        assert not r.acknowledged and r.raised(discord.NotFound)
        [v] = h.take_violations()
        assert v.kind == "late_ack"


async def test_no_secret_in_outgoing_traffic(h, world):
    g, alice, bob, general = world
    await h.slash(alice, general, "announce", text="hello")
    await h.slash(alice, general, "slow")
    bodies = [json.dumps(q.json) for q in h.requests if q.json is not None]
    assert bodies and not any(h.token in b for b in bodies)
    # the token only ever appears in the Authorization header of REST calls
    assert all(q.headers.get("Authorization") in (None, f"Bot {h.token}") for q in h.requests)


async def test_close_restores_route_base():
    import discord.http

    before = discord.http.Route.BASE
    async with DiscordHarness(DemoBot()) as h:
        assert discord.http.Route.BASE.startswith("http://127.0.0.1:")
    assert discord.http.Route.BASE == before
    assert h.bot.is_closed()


async def test_command_permissions_respected(h, world):
    g, alice, bob, general = world

    @h.bot.tree.command(name="admin-only", description="admins only")
    @app_commands.default_permissions(manage_guild=True)
    async def admin_only(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("ok")

    await h.sync()
    with pytest.raises(CommandNotAvailable):
        await h.slash(bob, general, "admin-only")
    g.role("Admin").permissions = discord.Permissions(administrator=True).value
    assert (await h.slash(alice, general, "admin-only")).text == "ok"
