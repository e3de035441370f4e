"""Hostile input, property-based (Hypothesis), through the REAL commands and the fake Discord.

Every kind of hostile input in `KINDS` is driven through at least one command: what people type into
/lookup and its autocomplete, push files and their options, /release options and the manifests and
answers behind them, and what the Foundry world holds (entry, folder, page and world names; entry
descriptions and flags). For every interaction the same promises are checked (`check_result`):

* no exception escaped the bot (only user-facing errors; nothing logged at ERROR with a traceback),
* the person got an answer (acknowledged, a message that is not the "thinking…" placeholder),
* every message is within Discord's limits (content 2000; embed title 256, description 4096,
  25 fields of 256/1024, footer 2048, 6000 in all; select menus 25 options of 100),
* autocomplete answers at most 25 choices of 1-100 characters,
* no message can ping: `allowed_mentions` parses nobody, except the late-reply fallback that mentions
  exactly the person who asked, and no content carries a raw @everyone/@here.

Hypothesis runs derandomized (the same examples on every run) with few examples per property so
the file stays fast. `gm_env` is function-scoped and shared by the examples of one test: each
example resets the parts of the world it uses, and every check looks only at its own interaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections import Counter
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cogs.utils.embeds import safe_url, to_embed
from cogs.utils.errors import is_expected
from core.replies import Reply
from core.textsafe import echo, valid_unicode
from services.codex.render import html_to_markdown
from storage import NameEntry
from tests.conftest import WORLD_ID
from tests.harness.driver import SentMessage
from tests.helpers import pending_with_button

# --- the kinds of hostile input -------------------------------------------------------------------

KINDS = [
    # Text, typed by people or stored in Foundry as names.
    "markdown",  # **bold**, `code`, [masked](links), > quotes, # headings, ||spoilers||
    "mass-mention",  # @everyone, @here (and look-alikes)
    "role-mention",  # <@&role id>
    "user-channel-mention",  # <@id>, <@!id>, <#id>, </command:id>
    "zero-width",  # U+200B/C/D, U+2060, U+FEFF, soft hyphen, names made only of them
    "bidi-override",  # U+202E and friends, Arabic and Hebrew text
    "long-6000",  # 4000-6000 characters
    "control-chars",  # C0/C1 controls, NUL, DEL, newlines, tabs
    "combining-marks",  # Zalgo: a letter under dozens of combining marks
    "emoji-astral",  # ZWJ families, flags, tag characters, mathematical letters
    "html-markup",  # <script>, <img onerror>, entities, comments
    "foundry-enricher",  # @UUID[...]{...}, [[/roll]], @Check[...] in names
    "discord-syntax",  # <t:0:R>, <:emoji:id>, :smile:, invite links
    "blank-or-space",  # only spaces, NBSP, ideographic space, line/paragraph separators
    "unicode-normalisation",  # ﬁ, fullwidth letters, ß/ẞ, dotted I, decomposed Å, Kelvin sign
    "injection-text",  # SQL, format strings, ${jndi:…}, ../../, %s
    "lone-surrogate",  # unpaired UTF-16 surrogates (JSON "\ud800" from Foundry)
    "hostile-folder-names",  # same-named entries told apart by hostile folder names
    "expired-token-late-reply",  # the interaction token expires: the reply goes to the channel
    # Entry descriptions and flags stored in the world.
    "html-100kb",  # 100 KB of HTML
    "malformed-html",  # unclosed, mis-nested, stray brackets, broken entities
    "deep-html",  # 300-1000 nested elements
    "uuid-odd-labels",  # @UUID links with odd labels and targets
    "secret-sections",  # secrets in odd places: never shown to players
    "entity-encoded-mentions",  # &#64;everyone, &lt;@&amp;1&gt; decoding into mentions
    "wrong-type-flags",  # description a list, data a string, links numbers…
    "many-links",  # hundreds of links, tags, quests, pages
    "hostile-image-path",  # javascript:, data:, 8 KB, control characters
    "hostile-page-names",  # a plain journal entry whose pages have hostile names
    # Push files and options.
    "push-not-json",
    "push-non-utf8",
    "push-deep-nesting",  # 33 to 1000 levels
    "push-oversize",  # 1 MB + 1 byte, 50 MB
    "push-wrong-types",  # any JSON under the known keys
    "push-json-constants",  # NaN, Infinity, 10**5000, 1e999
    "push-foundry-syntax-keys",  # "-=key", "==key", "a.b", ""
    "push-empty",  # empty, whitespace, {}, [], null
    "push-hostile-values",  # a valid file whose strings are hostile text: preview, write, look up
    "push-hostile-rename",
    "push-create-hostile-name",
    "push-attachment-gone",  # the attachment's CDN link no longer answers
    # /release options, manifests and Foundry's answers.
    "release-version",  # versions of every wrong shape
    "release-manifest-url",  # URLs of every wrong shape
    "release-notes-url",
    "release-compat-versions",  # minimum / verified / maximum
    "release-package-id",
    "manifest-document",  # manifests that are HTML, lists, wrong types, 1 MB
    "manifest-deep-nesting",  # a manifest nested 100,000 deep
    "foundry-hostile-answer",  # Foundry's errors with mentions, 100 KB messages, odd shapes
    "release-publish-announcement",  # hostile versions all the way into the announcement
    # Worlds.
    "hostile-world-names",  # /refresh, /status, /world of worlds whose names are hostile
    "many-worlds",  # 30 online worlds: the picker and "several worlds" list
]

EXERCISED: Counter = Counter()


def exercise(kind: str) -> str:
    assert kind in KINDS, f"{kind!r} is not in KINDS"
    EXERCISED[kind] += 1
    return kind


def fast(n: int):
    """Hypothesis settings for these properties: reproducible, few examples, no deadline."""
    return settings(
        max_examples=n,
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=False,
        # No shrinking: each example drives a whole bot, and a failure's first example is readable as drawn.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        report_multiple_bugs=False,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # one bot per test; each example resets what it uses
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# --- strategies -----------------------------------------------------------------------------------

LETTERS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABC", max_size=10)
IDS = st.integers(min_value=0, max_value=2**64 - 1)


def mixed(pieces, *, max_pieces: int = 6) -> st.SearchStrategy[str]:
    """Hostile pieces with ordinary letters between them (at least one hostile piece)."""
    piece = pieces if isinstance(pieces, st.SearchStrategy) else st.sampled_from(pieces)
    return st.builds(
        lambda head, parts: head + "".join(p + gap for p, gap in parts),
        LETTERS,
        st.lists(st.tuples(piece, LETTERS), min_size=1, max_size=max_pieces),
    )


def _long(seed: str, n: int) -> str:
    return (seed * (n // len(seed) + 1))[:n]


TEXT = {
    "markdown": mixed(
        [
            "**",
            "__",
            "*",
            "_",
            "~~",
            "`",
            "```",
            "||",
            "> ",
            ">>> ",
            "# ",
            "-# ",
            "\n- ",
            "1. ",
            "[evil](https://evil.example/login)",
            "![x](https://evil.example/x.png)",
            "\\",
        ]
    ),
    "mass-mention": mixed(
        ["@everyone", "@here", "@EVERYONE", "@Here", "@@everyone", "＠everyone", "@\u200beveryone", "@everyone@here"]
    ),
    "role-mention": mixed(IDS.map(lambda n: f"<@&{n}>")),
    "user-channel-mention": mixed(
        st.one_of(
            IDS.map(lambda n: f"<@{n}>"),
            IDS.map(lambda n: f"<@!{n}>"),
            IDS.map(lambda n: f"<#{n}>"),
            IDS.map(lambda n: f"</push:{n}>"),
            st.just("<id:customize>"),
        )
    ),
    "zero-width": st.one_of(
        mixed(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e", "\u00ad", "\u034f"]),
        st.text(alphabet="\u200b\u200c\u200d\u2060\ufeff", min_size=1, max_size=8),
    ),
    "bidi-override": mixed(
        [
            "\u202e",
            "\u202d",
            "\u202a",
            "\u202b",
            "\u202c",
            "\u2066",
            "\u2067",
            "\u2068",
            "\u2069",
            "\u200e",
            "\u200f",
            "\u061c",
            "مرحبا",
            "שלום",
            "\u202egnp.exe",
        ]
    ),
    "long-6000": st.builds(_long, st.text(min_size=1, max_size=12).filter(str.strip), st.integers(4000, 6000)),
    "control-chars": mixed(st.text(alphabet=st.characters(categories=("Cc",)), min_size=1, max_size=5)),
    "combining-marks": mixed(
        st.builds(
            lambda base, marks: base + marks,
            st.sampled_from("aeoZ "),
            st.text(alphabet=st.characters(min_codepoint=0x300, max_codepoint=0x36F), min_size=5, max_size=60),
        )
    ),
    "emoji-astral": mixed(["👨‍👩‍👧‍👦", "🏳️‍🌈", "𝔅𝔞𝔯𝔬𝔫", "🇺🇸", "😀", "\U000e0041\U000e007f", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "\U0010fffd"]),
    "html-markup": mixed(
        [
            "<script>alert(1)</script>",
            "<b>",
            "</p>",
            "&amp;",
            "&lt;@everyone&gt;",
            "&#64;here",
            "<img src=x onerror=alert(1)>",
            "<!--",
            "]]>",
            '<section class="secret">',
        ]
    ),
    "foundry-enricher": mixed(
        [
            "@UUID[JournalEntry.abc]{x}",
            "@UUID[",
            "]{",
            "@Compendium[world.x.y]{@everyone}",
            "[[/roll 1d20]]",
            "@Check[dc:15]",
            "@UUID[Actor.x]{**bold**}",
            "{{",
            "}}",
        ]
    ),
    "discord-syntax": mixed(
        [
            "<t:0:R>",
            "<:e:1>",
            "<a:e:1>",
            ":smile:",
            "||spoiler||",
            "<https://x.example>",
            "https://discord.gg/invite",
            "</help:1>",
            "-# small",
        ]
    ),
    "blank-or-space": st.text(
        alphabet=" \t\n\u00a0\u3000\u2028\u2029\u1680\u2000\u200a\u205f", min_size=1, max_size=30
    ),
    "unicode-normalisation": mixed(["ﬁ", "Ｂａｒｏｎ", "ß", "ẞ", "İ", "ı", "A\u030a", "Å", "Ⅻ", "①", "ǅ", "K", "ﷺ"]),
    "injection-text": mixed(
        [
            "'; DROP TABLE name_entries; --",
            '" OR 1=1 --',
            "%",
            "_",
            "%s",
            "{0}",
            "{name}",
            "%(x)s",
            "{",
            "}",
            "${jndi:ldap://x}",
            "../../etc/passwd",
            "\\x00",
            "\\u0000",
            "NULL",
            "\\",
        ]
    ),
    "lone-surrogate": mixed(["\ud800", "\udfff", "\udbff\udbff", "a\udc00b"]),
}
TYPED_KINDS = [k for k in TEXT if k != "lone-surrogate"]  # Discord clients send valid UTF-8 only
STORED_KINDS = list(TEXT)
ANY_HOSTILE = st.one_of([TEXT[k] for k in TYPED_KINDS])


def no_surrogates(text: str) -> str:
    return "".join(ch for ch in text if not 0xD800 <= ord(ch) <= 0xDFFF)


def as_option(text: str, limit: int) -> str:
    """What Discord lets a person put in a string option of max_length `limit` (at least 1 character)."""
    return no_surrogates(text)[:limit] or "x"


# --- checking every interaction -------------------------------------------------------------------

MASS_MENTION = re.compile(r"@(everyone|here)\b")
LATE_REPLY = "finished after Discord stopped accepting replies to it"


class ErrorLog(logging.Handler):
    """ERROR records with a traceback from any logger: crashes the bot caught and logged (autocomplete
    failures, "Unhandled error in /…")."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None and not is_expected(record.exc_info[1]):
            self.records.append(record)


class Quiet:
    """`gm_env` with a one-word repr: Hypothesis prints a failing example's arguments, fixtures included."""

    def __init__(self, env):
        self.__dict__["_env"] = env

    def __getattr__(self, name):
        return getattr(self._env, name)

    def __repr__(self) -> str:
        return "<gm_env>"


@pytest.fixture
async def env(gm_env):
    log = ErrorLog()
    logging.getLogger().addHandler(log)
    gm_env.extra["log"] = log
    try:
        yield Quiet(gm_env)
    finally:
        logging.getLogger().removeHandler(log)


def _describe_crash(record: logging.LogRecord) -> str:
    error = record.exc_info[1]
    return f"{record.name}: {record.getMessage()} — {type(error).__name__}: {str(error)[:200]}"


def check_embed(embed: dict, where: str) -> None:
    title = embed.get("title") or ""
    description = embed.get("description") or ""
    footer = (embed.get("footer") or {}).get("text") or ""
    author = (embed.get("author") or {}).get("name") or ""
    fields = embed.get("fields") or []
    assert len(title) <= 256, f"{where}: title of {len(title)}"
    assert len(description) <= 4096, f"{where}: description of {len(description)}"
    assert len(footer) <= 2048 and len(author) <= 256, f"{where}: footer/author too long"
    assert len(fields) <= 25, f"{where}: {len(fields)} fields"
    total = len(title) + len(description) + len(footer) + len(author)
    for field in fields:
        name, value = str(field.get("name") or ""), str(field.get("value") or "")
        assert name.strip() and value.strip(), f"{where}: an empty field {field!r:.100}"
        assert len(name) <= 256 and len(value) <= 1024, f"{where}: field {name[:40]!r} of {len(name)}/{len(value)}"
        total += len(name) + len(value)
    assert total <= 6000, f"{where}: embed of {total} characters"
    for url in (embed.get("url"), (embed.get("image") or {}).get("url"), (embed.get("thumbnail") or {}).get("url")):
        if url is not None:
            check_url(url, where)


def check_url(url: str, where: str) -> None:
    """Discord refuses an embed whose link or image is not a well-formed http(s) URL of at most 2048."""
    assert len(url) <= 2048, f"{where}: a URL of {len(url)} characters"
    assert not any(ch.isspace() or ord(ch) < 32 for ch in url), f"{where}: a URL with blanks {url[:100]!r}"
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.hostname, f"{where}: not a well-formed URL {url[:100]!r}"


def check_components(components: list, where: str) -> None:
    assert len(components) <= 5, f"{where}: {len(components)} rows"
    for row in components:
        for item in row.get("components") or []:
            if item.get("type") == 3:  # string select
                options = item.get("options") or []
                assert 1 <= len(options) <= 25, f"{where}: select with {len(options)} options"
                for option in options:
                    assert 1 <= len(option.get("label") or "") <= 100, f"{where}: option label {option!r:.120}"
                    assert 1 <= len(option.get("value") or "") <= 100, f"{where}: option value {option!r:.120}"
                    assert len(option.get("description") or "") <= 100, f"{where}: option description"
                assert len(item.get("placeholder") or "") <= 150
            if item.get("type") == 2:
                assert len(item.get("label") or "") <= 80


def check_message(message: SentMessage, *, where: str) -> None:
    payload = message.payload
    content = payload.get("content") or ""
    assert len(content) <= 2000, f"{where}: content of {len(content)}"
    embeds = payload.get("embeds") or []
    assert len(embeds) <= 10
    assert content or embeds or payload.get("components") or message.loading, f"{where}: an empty message"
    for i, embed in enumerate(embeds):
        check_embed(embed, f"{where} embed {i}")
    check_components(payload.get("components") or [], where)
    assert not MASS_MENTION.search(content), f"{where}: a raw mass mention in the content: {content[:200]!r}"
    mentions = message.allowed_mentions
    if mentions is None:
        # Nothing said which mentions may ping: only harmless when there is no content (embeds never ping).
        assert not content, f"{where}: content sent without allowed_mentions: {content[:200]!r}"
        return
    parse = set(mentions.get("parse") or [])
    assert not parse & {"everyone", "roles", "users"}, f"{where}: allowed_mentions parses {parse}"
    assert not mentions.get("roles"), f"{where}: allowed_mentions names roles"
    assert not mentions.get("replied_user"), f"{where}: pings the replied-to user"
    users = [str(u) for u in mentions.get("users") or []]
    if users:
        # The one deliberate ping: the late-reply fallback tells the person who asked.
        assert len(users) == 1, f"{where}: allowed_mentions lets {len(users)} users be pinged"
        assert content.startswith(f"<@{users[0]}>") and LATE_REPLY in content, f"{where}: a user ping {content[:120]!r}"


def check_discord_side(env, where: str) -> None:
    violations = env.h.take_violations()
    assert not violations, f"{where}: the fake Discord refused: " + "; ".join(str(v) for v in violations)[:2000]
    for message in list(env.h.fake.messages.values()):
        if not message.deleted:
            check_message(SentMessage(message), where=f"{where}, message {message.id}")


def check_result(env, result, *, what: str, log_from: int = 0, reply: bool = True) -> None:
    escaped = [e for e in result.errors if not is_expected(e)]
    assert not escaped, f"{what}: an exception escaped the bot: {escaped!r:.500}"
    crashes = env.extra["log"].records[log_from:]
    assert not crashes, f"{what}: the bot logged a crash: {_describe_crash(crashes[0])}"
    if reply:
        assert result.acknowledged, f"{what}: never answered"
        late = [m for m in env.h.messages_in(env.channel) if LATE_REPLY in m.content]
        messages = [m for m in result.messages if not m.loading]
        assert messages or late, f"{what}: no answer arrived (only a 'thinking…' placeholder)"
    check_discord_side(env, what)


async def slash(env, who, command: str, *, expire=None, **options):
    start = len(env.extra["log"].records)
    result = await env.h.slash(who, env.channel, command, expire=expire, **options)
    check_result(env, result, what=f"/{command}", log_from=start)
    return result


async def autocomplete(env, who, command: str, option: str, typed: str, **filled) -> list[dict]:
    start_log, start_errors = len(env.extra["log"].records), len(env.h.errors)
    choices = await env.h.autocomplete(who, env.channel, command, option, typed, **filled)
    escaped = [e for e in env.h.errors[start_errors:] if not is_expected(e)]
    assert not escaped, f"/{command} autocomplete: {escaped!r:.300}"
    crashes = env.extra["log"].records[start_log:]
    assert not crashes, f"/{command} autocomplete crashed: {_describe_crash(crashes[0])}"
    assert len(choices) <= 25, f"{len(choices)} choices"
    for choice in choices:
        assert 1 <= len(choice["name"]) <= 100, f"choice name of {len(choice['name'])}: {choice['name'][:50]!r}"
        assert isinstance(choice["value"], str) and 1 <= len(choice["value"]) <= 100, f"choice value {choice!r:.150}"
    check_discord_side(env, f"/{command} autocomplete")
    return choices


async def answering(env, who, command: str, *, answer: str | None = "Cancel", **options):
    """Run a command that may stop at a Confirm/Cancel preview; press `answer` there. Returns
    (result, preview message or None)."""
    newest = max(env.h.fake.messages, default=0)
    start = len(env.extra["log"].records)
    task = asyncio.create_task(env.h.slash(who, env.channel, command, **options))
    found = await env.h.wait_for(
        lambda: pending_with_button(env.h, "Confirm", newest) or (task.done() and -1),
        what=f"/{command} to answer or preview",
    )
    preview = None
    if found != -1:
        preview = SentMessage(env.h.fake.messages[found])
        check_message(preview, where=f"/{command} preview")
        click = await env.h.click(who, found, label=answer)
        check_result(env, click, what=f"/{command} {answer}", log_from=start, reply=False)
    result = await task
    check_result(env, result, what=f"/{command}", log_from=start)
    return result, preview


def public_text(result) -> str:
    return "\n".join(m.text for m in result.messages if not m.ephemeral)


# --- world helpers --------------------------------------------------------------------------------


def reset_world(env) -> None:
    for client_id in [c for c in env.relay.worlds if c != WORLD_ID]:
        del env.relay.worlds[client_id]
    world = env.world
    world.entries.clear()
    world.folders.clear()
    world.title, world.custom_name, world.public_url, world.online = "Ashes of the Valley", None, None, True
    world.system_title, world.foundry_version = "Dungeons & Dragons Fifth Edition", "13.345"


def npc(description, **data) -> dict:
    return {"campaign-codex": {"type": "npc", "data": {"description": description, **data}}}


async def refresh(env) -> None:
    result = await slash(env, env.gm, "refresh")
    assert "Name map refreshed" in result.text, result.text


# --- names typed into /lookup and its autocomplete --------------------------------------------------


@pytest.mark.parametrize("kind", TYPED_KINDS)
@fast(10)
@given(data=st.data())
async def test_hostile_text_typed_into_lookup_and_its_autocomplete(env, kind, data):
    if not env.extra.get("ready"):
        env.world.add_entry("Baron Vell", flags=npc("<p>The baron.</p>"))
        env.world.add_entry("Mira Thorn", flags=npc("<p>A knight.</p>"))
        for n in range(30):
            env.world.add_entry(f"Bandit {n:02d}")
        await refresh(env)
        env.extra["ready"] = True
    exercise(kind)
    typed = data.draw(TEXT[kind], label="typed")

    await autocomplete(env, env.player, "lookup", "name", typed)  # autocomplete has no length limit
    for who in (env.player, env.gm):
        result = await slash(env, who, "lookup", name=as_option(typed, 200))
        assert result.messages
    assert not env.relay.requests("/update") and not env.relay.requests("/create")


# --- names stored in Foundry ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", STORED_KINDS)
@fast(8)
@given(data=st.data())
async def test_hostile_entry_and_folder_names_from_foundry(env, kind, data):
    exercise(kind)
    reset_world(env)
    name = data.draw(TEXT[kind], label="name")
    folder_name = data.draw(TEXT[kind], label="folder")
    world = env.world
    first = world.add_entry(name, flags=npc(f"<p>About {name}.</p>", linkedNPCs=[]))
    second = world.add_entry(name, folder=world.add_folder(folder_name), pages=[name])
    exercise("hostile-folder-names")
    other = world.add_entry(
        "Plain Entry", flags=npc("<p>Links.</p>", linkedNPCs=[first, second], associates=[first], tags=[name])
    )
    await refresh(env)

    typed = no_surrogates(name)
    choices = await autocomplete(env, env.player, "lookup", "name", typed[:120])
    choices += await autocomplete(env, env.player, "lookup", "name", "")
    values = {c["value"] for c in choices}
    assert {first, second} <= values or len(choices) >= 25, f"the hostile entries were not offered: {choices!r:.300}"

    for uuid in (first, second, other):
        for who in (env.player, env.gm):
            result = await slash(env, who, "lookup", name=uuid)
            assert result.response and result.response.embeds, result.text
    by_name = await slash(env, env.player, "lookup", name=as_option(name, 200))
    assert by_name.messages

    exercise("expired-token-late-reply")
    late = await slash(env, env.player, "lookup", name=first, expire="after_ack")
    assert late.acknowledged
    posted = [m for m in env.h.messages_in(env.channel) if LATE_REPLY in m.content]
    assert posted and posted[-1].content.startswith(env.player.mention)


# --- descriptions and flags stored in Foundry -------------------------------------------------------

SECRET = "SECRET-MARK-7f3a"
SECRET_SHAPES = [
    '<section class="secret">{m}</section>',
    '<section class="secret foo" id="s1"><div><p><strong>{m}</strong></p></div></section>',
    "<section class='secret'>{m}",  # never closed
    '<div><section class="secret"><section class="secret">{m}</section></section></div>',
    '<section class="secret"><table><tr><td>{m}</td></tr></table></section>',
    '<p>before<section class="secret">{m}</p></section>after',  # mis-nested
    '<section class="secret"><!-- c -->{m}<script>x</script></section>',
    '<SECTION CLASS="secret">{m}</SECTION>',
    '<section class="&#115;ecret">{m}</section>',
    '<section class="secret">@UUID[JournalEntry.nope]{{{m}}}</section>',
    '<section class="secret"><ul><li><ol><li>{m}</li></ol></li></ul></section>',
    '<section class="secret"><a href="https://x.example/{m}">link</a></section>',
    '<section class="secret"><img alt="{m}" src="x.png"></section>',
]

MALFORMED = [
    "<p",
    "</p></p></div>",
    "<<>>",
    "<a href='",
    "&#xZZZZ;",
    "&#99999999;",
    "&",
    "<b><i>x</b></i>",
    "<!--",
    "<![CDATA[x",
    "<table><td>",
    "<li>",
    "</section>",
    "<p>\x00</p>",
    "<ul><li>x<ul>",
    "<>",
    "< p >",
    "<=3",
    "<h1><h2>",
    "<br/><br/>",
    '<a href="javascript:alert(1)">x</a>',
    "<style>p{}</style>",
    "\r\n\r\n\t",
]

ODD_LABELS = st.sampled_from(
    [
        "",
        "@everyone",
        "<@&1>",
        "**bold**",
        "[x](https://evil.example)",
        "}",
        "{",
        "]",
        "\\",
        "\u202e",
        "\u200b",
        "x" * 300,
        "<b>x</b>",
        "@UUID[JournalEntry.a]",
        "&lt;@1&gt;",
        "```",
        "@here",
    ]
)
ODD_TARGETS = st.sampled_from(
    [
        "JournalEntry.unknown",
        "",
        "Compendium.world.lore.JournalEntry.x",
        "Actor.1",
        "JournalEntry." + "a" * 280,
        "JournalEntry.<@&1>",
        "JournalEntry.@everyone",
        "[",
        ".",
    ]
)
LINK_KINDS = st.sampled_from(["UUID", "JournalEntry", "Actor", "Item", "Scene", "RollTable", "Compendium"])


@st.composite
def html_document(draw, kind: str) -> str:
    words = draw(
        st.lists(
            st.sampled_from(
                [
                    "<p>",
                    "</p>",
                    "<strong>x</strong>",
                    "<em>y</em>",
                    "<ul><li>z</li></ul>",
                    "<h2>h</h2>",
                    "<a href='https://example.org'>a</a>",
                    "<br>",
                    "text ",
                    "<table><tr><td>c</td></tr></table>",
                    "&amp;",
                    "<blockquote>q</blockquote>",
                    "@UUID[JournalEntry.x]{Link}",
                    "<img src='a.png' alt='pic'>",
                ]
            ),
            min_size=5,
            max_size=40,
        )
    )
    chunk = "".join(words)
    if kind == "html-100kb":
        size = draw(st.integers(100_000, 120_000))
        return _long(chunk, size)
    if kind == "malformed-html":
        parts = draw(st.lists(st.sampled_from(MALFORMED), min_size=1, max_size=30))
        return "".join(p + w for p, w in zip(parts, words * 10))
    if kind == "deep-html":
        depth = draw(st.integers(300, 1000))
        tag = draw(
            st.sampled_from(
                ["div", "ul><li", "blockquote", "p", "span", "em", "table><tr><td", "section", "ol><li", "strong"]
            )
        )
        closing = "".join(f"</{t}>" for t in reversed(tag.split("><")))
        return f"<{tag}>" * depth + "deep" + closing * depth
    if kind == "uuid-odd-labels":
        links = draw(
            st.lists(st.tuples(LINK_KINDS, ODD_TARGETS, st.one_of(st.none(), ODD_LABELS)), min_size=1, max_size=12)
        )
        text = " ".join(f"@{k}[{t}]" + ("" if label is None else "{" + label + "}") for k, t, label in links)
        return f"<p>{text}</p>" + draw(st.sampled_from(["", "@UUID[JournalEntry.x", "@UUID[]{}", "@UUID[x]{"]))
    if kind == "entity-encoded-mentions":
        pieces = draw(
            st.lists(
                st.sampled_from(
                    [
                        "&#64;everyone",
                        "&#x40;here",
                        "&commat;everyone",
                        "&lt;@&amp;123&gt;",
                        "&lt;@!456&gt;",
                        "&lt;#789&gt;",
                        "@<b></b>everyone",
                        "@<!-- -->here",
                        "<p>@</p><p>everyone</p>",
                        "@\u200beveryone",
                        "@everyone",
                    ]
                ),
                min_size=1,
                max_size=8,
            )
        )
        return "<p>" + " ".join(pieces) + "</p>"
    raise AssertionError(kind)


DESCRIPTION_KINDS = ["html-100kb", "malformed-html", "deep-html", "uuid-odd-labels", "entity-encoded-mentions"]
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
LINK_KEYS = [
    "linkedActor",
    "parentRegion",
    "parentRegions",
    "linkedLocation",
    "linkedLocations",
    "linkedRegions",
    "linkedScene",
    "linkedNPCs",
    "members",
    "associates",
    "hiddenAssociates",
    "linkedShops",
    "linkedGroups",
    "linkedQuests",
    "linkedStandardJournals",
]
DATA_KEYS = LINK_KEYS + ["description", "notes", "tags", "quests", "inventory", "hideInventory", "linkCardNotes"]


@st.composite
def stored_flags(draw, kind: str, linked: list[str]) -> tuple[dict, list, str | None]:
    """(flags, pages, img) of the entry under test."""
    if kind in DESCRIPTION_KINDS:
        return npc(draw(html_document(kind)), notes=draw(html_document(kind))), [], None
    if kind == "secret-sections":
        shapes = draw(st.lists(st.sampled_from(SECRET_SHAPES), min_size=1, max_size=4))
        description = "<p>Public.</p>" + "".join(s.format(m=SECRET) for s in shapes)
        data = {
            "notes": f"<p>{SECRET}</p>",
            "hiddenAssociates": [linked[0]],
            "quests": [{"id": "q", "title": SECRET, "visible": False}, {"id": "p", "title": "Open quest"}],
        }
        return npc(description, **data), [], None
    if kind == "wrong-type-flags":
        codex = draw(
            st.one_of(
                JSON_VALUES,
                st.fixed_dictionaries({"type": JSON_VALUES, "data": JSON_VALUES}),
                st.fixed_dictionaries(
                    {
                        "type": st.sampled_from(["npc", "quest", "shop", "group", "region"]),
                        "image": JSON_VALUES,
                        "data": st.dictionaries(st.sampled_from(DATA_KEYS), JSON_VALUES, max_size=8),
                    }
                ),
            )
        )
        flags = draw(st.sampled_from(["wrapped", "bare", "flags-not-dict"]))
        if flags == "flags-not-dict":
            return (
                draw(st.sampled_from([[], "flags", 3])),
                draw(JSON_VALUES.map(lambda v: v if isinstance(v, list) else [v])),
                None,
            )
        return ({"campaign-codex": codex} if flags == "wrapped" else codex), [], None
    if kind == "many-links":
        count = draw(st.integers(100, 600))
        public = linked[1:]  # linked[0] is the entry named SECRET: only a hidden associate
        uuids = [public[i % len(public)] for i in range(count)] + [f"JournalEntry.gone{i}" for i in range(count)]
        data = {key: uuids for key in LINK_KEYS}
        data["hiddenAssociates"] = [linked[0]] + uuids
        data.update(
            linkedActor=uuids[0],
            linkedScene="Scene.x",
            tags=[f"tag {i} @everyone" for i in range(count)],
            quests=[{"id": str(i), "title": f"Quest {i} <@&{i}>", "completed": i % 3 == 0} for i in range(count)],
            inventory=[{"itemUuid": "Item.x", "quantity": 1}] * count,
            notes="<p>n</p>" * count,
            description="<p>d</p>" * count,
        )
        return {"campaign-codex": {"type": "group", "data": data}}, [], None
    if kind == "hostile-image-path":
        image = draw(
            st.sampled_from(
                [
                    "javascript:alert(1)",
                    "data:image/png;base64," + "A" * 8000,
                    "file:///etc/passwd",
                    "//evil.example/x.png",
                    "worlds/x/a b\n.png",
                    "https://x.example/" + "a" * 8000,
                    "worlds/<@&1>/@everyone.png",
                    "  ",
                    "\u202e.png",
                    "http://",
                    "https://[::1",
                    "worlds/x/%00.png",
                    "../../../etc/passwd",
                ]
            )
        )
        img = draw(st.sampled_from([None, image, "https://ok.example/i.png"]))
        return (
            {
                "campaign-codex": {
                    "type": "location",
                    "image": draw(st.sampled_from([image, 5, None, ["x"]])),
                    "data": {"description": "<p>x</p>"},
                }
            },
            [],
            img,
        )
    if kind == "hostile-page-names":
        names = draw(
            st.lists(st.one_of(ANY_HOSTILE, st.just(""), st.just(SECRET[:0] + "@everyone")), min_size=1, max_size=40)
        )
        pages = [
            {"_id": f"p{i}", "name": n, "type": "text", "text": {"content": "<p>x</p>"}} for i, n in enumerate(names)
        ]
        pages += [draw(st.sampled_from([{"name": None}, {"name": 5}, "page", None, {"name": ["x"]}]))]
        pages += [{"_id": f"q{i}", "name": f"Page {i} " + "x" * 300} for i in range(draw(st.integers(0, 500)))]
        return {}, pages, None
    raise AssertionError(kind)


ENTRY_KINDS = DESCRIPTION_KINDS + [
    "secret-sections",
    "wrong-type-flags",
    "many-links",
    "hostile-image-path",
    "hostile-page-names",
]


@pytest.mark.parametrize("kind", ENTRY_KINDS)
@fast(5)
@given(data=st.data())
async def test_hostile_descriptions_and_flags_stored_in_foundry(env, kind, data):
    exercise(kind)
    reset_world(env)
    world = env.world
    linked = [world.add_entry(data.draw(ANY_HOSTILE, label="linked name")) for _ in range(3)]
    world.add_entry(SECRET, flags=npc("<p>hidden associate</p>"))
    linked.insert(0, next(f"JournalEntry.{i}" for i, e in world.entries.items() if e["name"] == SECRET))
    flags, pages, img = data.draw(stored_flags(kind, linked), label="entry")
    world.public_url = data.draw(st.sampled_from([None, "https://vtt.example.com", "javascript:x", "https://"]))
    uuid = world.add_entry("Target", flags=flags, pages=pages, img=img)
    await refresh(env)
    if kind == "html-100kb":  # parsed as a browser does, 100 KB takes seconds on a starved shared core
        env.h.timeout = max(env.h.timeout, 60.0)

    player = await slash(env, env.player, "lookup", name=uuid)
    gm = await slash(env, env.gm, "lookup", name=uuid)
    private = await slash(env, env.player, "lookup", name=uuid, private=True)
    assert player.response.embeds and gm.response.embeds and private.response.embeds
    # Secrets, GM notes, hidden quests and hidden associates never reach a player or the channel.
    for result in (player, private):
        assert SECRET not in result.text, f"{kind}: a player saw a secret: {result.text[:300]!r}"
    assert SECRET not in public_text(gm), f"{kind}: a secret was posted in the channel"
    if kind == "secret-sections":
        gm_private = "\n".join(m.text for m in gm.messages if m.ephemeral)
        assert SECRET in gm_private, "the GM should see the secrets privately"
    if kind == "entity-encoded-mentions":
        for result in (player, gm):
            assert not MASS_MENTION.search(result.text), f"an entity decoded into a live mention: {result.text[:300]!r}"


# --- push files and options -----------------------------------------------------------------------


def codex_file(obj) -> tuple[str, bytes]:
    return ("codex.json", json.dumps(obj).encode())


@st.composite
def push_content(draw, kind: str) -> bytes:
    if kind == "push-not-json":
        return draw(
            st.one_of(
                st.binary(min_size=1, max_size=200).filter(lambda b: b.strip()),
                st.sampled_from(
                    [
                        b"{",
                        b"}",
                        b"{'type': 'npc'}",
                        b"<html>",
                        b"type: npc\n",
                        b'{"type": "npc",}',
                        b"[1, 2",
                        b'"\\ud800"',
                        b'{"a": 1} {"b": 2}',
                        b"// comment\n{}",
                        b"\x00\x00",
                    ]
                ),
                st.text(min_size=1, max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
            )
        )
    if kind == "push-non-utf8":
        obj = json.dumps({"type": "npc", "data": {"description": "<p>é</p>"}})
        return draw(
            st.sampled_from(
                [
                    obj.encode("utf-16"),
                    obj.encode("utf-16-le"),
                    obj.encode("latin-1"),
                    obj.encode("utf-32"),
                    b"\xff\xfe\xfd" + obj.encode(),
                    obj.encode("cp1252")[:-1] + b"\x81",
                    '"\ud800"'.encode("utf-8", "surrogatepass"),
                ]
            )
        )
    if kind == "push-deep-nesting":
        depth = draw(st.integers(33, 1000))
        shape = draw(st.sampled_from(["list", "object", "data", "mixed"]))
        if shape == "list":
            return b"[" * depth + b"]" * depth
        if shape == "object":
            return b'{"a":' * depth + b"1" + b"}" * depth
        if shape == "data":
            return b'{"type":"npc","data":{"description":' + b"[" * depth + b"]" * depth + b"}}"
        return b'{"x":[' * depth + b"]}" * depth
    if kind == "push-wrong-types":
        top = draw(
            st.one_of(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "type": st.one_of(st.sampled_from(["npc", "quest", "dragon", ""]), JSON_VALUES),
                        "image": JSON_VALUES,
                        "data": st.one_of(
                            JSON_VALUES,
                            st.dictionaries(
                                st.sampled_from(DATA_KEYS + ["sheet-widgets", "bogus"]), JSON_VALUES, max_size=6
                            ),
                        ),
                    },
                ),
                JSON_VALUES,
            )
        )
        wrap = draw(st.sampled_from(["bare", "flags", "dotted", "flags-extra"]))
        if wrap == "flags":
            top = {"flags": {"campaign-codex": top}}
        elif wrap == "dotted":
            top = {"flags.campaign-codex": top}
        elif wrap == "flags-extra":
            top = {"flags": {"campaign-codex": top, "other": 1}, "name": "x"}
        return json.dumps(top).encode()
    if kind == "push-json-constants":
        value = draw(
            st.sampled_from(
                [
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    "1" * 5000,
                    "-" + "9" * 4400,
                    "1e999",
                    "-1e999",
                    "1" + "0" * 400 + ".5",
                    "0x10",
                    "+1",
                    ".5",
                    "01",
                ]
            )
        )
        where = draw(
            st.sampled_from(
                [
                    '{"type":"shop","data":{"markup":%s}}',
                    '{"type":"shop","data":{"inventoryCash":%s}}',
                    "[%s]",
                    "%s",
                    '{"data":{"quests":[{"rewardXP":%s}]}}',
                ]
            )
        )
        return (where % value).encode()
    if kind == "push-foundry-syntax-keys":
        key = draw(
            st.sampled_from(
                [
                    "-=description",
                    "==data",
                    "a.b",
                    "",
                    "flags.campaign-codex.data",
                    "-=",
                    "..",
                    "__proto__",
                    "constructor",
                    "data.description",
                ]
            )
        )
        where = draw(st.sampled_from(["top", "data", "deep"]))
        if where == "top":
            obj = {key: {"description": "<p>x</p>"}, "type": "npc"}
        elif where == "data":
            obj = {"type": "npc", "data": {key: "<p>x</p>"}}
        else:
            obj = {"type": "shop", "data": {"inventory": [{"itemUuid": "Item.x", key: 1}]}}
        return json.dumps(obj).encode()
    if kind == "push-empty":
        return draw(
            st.sampled_from(
                [
                    b"",
                    b" ",
                    b"\n\t ",
                    b"{}",
                    b"[]",
                    b"null",
                    b'""',
                    b"0",
                    b"\xef\xbb\xbf",
                    b'{"flags":{}}',
                    b'{"flags.campaign-codex":{}}',
                    b'{"data":{}}',
                ]
            )
        )
    raise AssertionError(kind)


PUSH_FILE_KINDS = [
    "push-not-json",
    "push-non-utf8",
    "push-deep-nesting",
    "push-wrong-types",
    "push-json-constants",
    "push-foundry-syntax-keys",
    "push-empty",
]


@pytest.fixture
async def baron(env):
    env.world.add_entry("Baron Vell", flags=npc("<p>Old.</p>", notes="<p>n</p>"))
    await refresh(env)
    return env


@pytest.mark.parametrize("kind", PUSH_FILE_KINDS)
@fast(15)
@given(data=st.data())
async def test_hostile_push_files_are_refused_or_previewed_never_written_unasked(baron, kind, data):
    env = baron
    exercise(kind)
    content = data.draw(push_content(kind), label="file")
    # Discord keeps an upload's name but never a path: no "/" reaches an attachment's filename.
    filename = data.draw(
        st.sampled_from(
            [
                "codex.json",
                "codex.txt",
                "etc_passwd",
                "@everyone.json",
                "x" * 200 + ".json",
                "\u202enosj.exe",
                "codex",
                ".json",
            ]
        ),
        label="filename",
    )
    writes = len(env.relay.requests("/update")) + len(env.relay.requests("/create"))
    result, preview = await answering(env, env.gm, "push", name="Baron Vell", data=(filename, content))
    assert result.ephemeral
    if preview is None:
        assert not result.text.startswith("Something went wrong"), result.text
    assert len(env.relay.requests("/update")) + len(env.relay.requests("/create")) == writes  # Cancel: nothing written


@pytest.mark.parametrize("size", [1_000_001, 50 * 1024 * 1024], ids=["1MB+1", "50MB"])
async def test_oversized_push_files_are_refused_before_download(baron, size):
    env = baron
    exercise("push-oversize")
    content = b"{" + b" " * (size - 1)
    result = await slash(env, env.gm, "push", name="Baron Vell", data=("codex.json", content))
    assert "over the limit" in result.text and result.ephemeral
    cdn = [r for r in env.h.fake.requests if "/cdn/" in r.path]
    if size > 2_000_000:
        assert not cdn, "a 50 MB file was downloaded before being refused"
    assert not env.relay.requests("/update") and not env.relay.requests("/create")


async def test_a_push_file_discord_no_longer_serves_is_a_clear_error(baron, monkeypatch):
    env = baron
    exercise("push-attachment-gone")
    fake = env.h.fake
    original = fake.add_cdn_file

    def gone(*args, **kwargs):
        attachment = original(*args, **kwargs)
        del fake.cdn[int(attachment["id"])]
        return attachment

    monkeypatch.setattr(fake, "add_cdn_file", gone)
    result = await slash(env, env.gm, "push", name="Baron Vell", data=codex_file({"data": {"description": "<p>x</p>"}}))
    assert "push file" in result.text and "refused the bot's reply" not in result.text, result.text
    assert not env.relay.requests("/update")


@pytest.mark.parametrize("kind", ["push-hostile-values", "push-hostile-rename", "push-create-hostile-name"])
@fast(12)
@given(data=st.data())
async def test_hostile_text_pushed_previewed_written_and_looked_up(env, kind, data):
    exercise(kind)
    reset_world(env)
    baron_uuid = env.world.add_entry("Baron Vell", flags=npc("<p>Old.</p>"))
    await refresh(env)
    # A file may carry "\ud800" escapes (valid JSON); options typed in Discord cannot.
    text = data.draw(st.one_of(ANY_HOSTILE, TEXT["long-6000"], TEXT["lone-surrogate"]), label="text")
    pushed = {
        "type": "npc",
        "data": {
            "description": f"<p>{text}</p>",
            "notes": f"<p>{text}</p>",
            "tags": [text, text[:50]],
            "linkedLocations": [text[:300]],
        },
    }
    options = {"name": "Baron Vell", "data": codex_file(pushed)}
    if kind == "push-hostile-rename":
        options["rename"] = as_option(text, 255)
    elif kind == "push-create-hostile-name":
        options["name"] = as_option(text, 200)
        options["data"] = codex_file({"type": "location", "data": {"description": f"<p>{text}</p>"}})
    result, preview = await answering(env, env.gm, "push", answer="Confirm", **options)
    target = options.get("rename") or options["name"]
    blank = not " ".join(target.split())
    if preview is None:
        assert blank or "already holds" in result.text or options["name"] != "Baron Vell", result.text
        return
    assert any(w in result.text for w in ("Pushed to", "Created")), result.text
    uuid = baron_uuid
    if kind == "push-create-hostile-name":
        [uuid] = [f"JournalEntry.{i}" for i in env.world.entries if f"JournalEntry.{i}" != baron_uuid]
    for who in (env.player, env.gm):
        await slash(env, who, "lookup", name=uuid)
    await autocomplete(env, env.player, "lookup", "name", no_surrogates(target)[:100])


# --- /release options -----------------------------------------------------------------------------

VERSIONS = st.one_of(
    st.sampled_from(
        [
            "1.2.0",
            " 1.2.0 ",
            "v1.2.0",
            "1..2",
            "-1",
            "1e10",
            "NaN",
            "null",
            "undefined",
            "0",
            "١٢",
            "1.2.0\n2",
            "1.2.0-beta+build.5",
            "@everyone",
            "<@&1>",
            "../../etc",
            "1.2.0/../../",
            "1.2.0?x=1",
            "%00",
            "\u200b",
            "\u202e0.2.1",
            "9" * 50,
            "1.2.0 ",
            "**1**",
            "[1](https://evil.example)",
            "\x00",
            "latest",
            "1.0.0",
        ]
    ),
    ANY_HOSTILE.map(lambda s: as_option(s, 50)),
)


def url_shapes(base: str, closed: str) -> st.SearchStrategy[str]:
    """URLs of every wrong shape that never leave 127.0.0.1 (or never connect at all)."""
    fixed = [
        "",
        " ",
        "module.json",
        "ftp://127.0.0.1/module.json",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:application/json,{}",
        "//127.0.0.1/module.json",
        "http://",
        "https://",
        "https:///module.json",
        "http://:80/",
        f"{base}:99999/x",
        "http://[::1]:1/module.json",
        f"{closed}/module.json",
        f"https://{base.split('//')[1]}/module.json",
        f"{base}/releases/latest/download/module.json",
        f"{base}/a b/module.json",
        f"{base}/%00/module.json",
        f"{base}/module.json#@everyone",
        f"{base}/module.json?x=<@&1>",
        f"http://user:pass@{base.split('//')[1]}/module.json",
        f"{base}/../../etc/passwd",
        f"{base}/\u202emodule.json",
        f"{base}/module.json\r\nX-Injected: 1",
        "@everyone",
        "<@&123>",
        "[manifest](https://evil.example)",
        f"HTTP://{base.split('//')[1]}/module.json",
        f"{base}/" + "a" * 260,
        "see the changelog",
        "https://foundryvtt.com/packages/my-module",
    ]
    return st.one_of(
        st.sampled_from(fixed).map(lambda s: s[:300] or "x"),
        ANY_HOSTILE.map(lambda s: as_option(f"{base}/{s}", 300)),
        ANY_HOSTILE.map(lambda s: as_option(s, 300)),
    )


def closed_port_base() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def manifest_doc(package="my-module", version="1.2.0", **compat) -> dict:
    return {
        "id": package,
        "title": "M",
        "version": version,
        "compatibility": {"minimum": "12", "verified": "13", **compat},
    }


def reset_release(env) -> None:
    env.foundry._last_release.clear()
    env.foundry._faults.clear()
    env.foundry.published["my-module"] = ["1.0.0"]


async def clear_cooldowns(env) -> None:
    for package in ("my-module", "other-module"):
        await env.app.releases.store.set_cooldown(package, 0)


RELEASE_OPTION_KINDS = [
    "release-version",
    "release-manifest-url",
    "release-notes-url",
    "release-compat-versions",
    "release-package-id",
]


@pytest.mark.parametrize("kind", RELEASE_OPTION_KINDS)
@fast(15)
@given(data=st.data())
async def test_release_dry_run_options_of_every_wrong_shape(env, kind, data):
    exercise(kind)
    reset_release(env)
    await clear_cooldowns(env)
    base = env.foundry.base_url
    good = env.foundry.serve_manifest("v1.2.0/module.json", manifest_doc())
    options = {"package": "my-module", "manifest": good}
    if kind == "release-version":
        version = data.draw(VERSIONS, label="version")
        options["version"] = version
        if data.draw(st.booleans(), label="manifest agrees"):
            options["manifest"] = env.foundry.serve_manifest(
                f"agree/{abs(hash(version))}/module.json", manifest_doc(version=version)
            )
    elif kind == "release-manifest-url":
        options["manifest"] = data.draw(url_shapes(base, closed_port_base()), label="manifest")
    elif kind == "release-notes-url":
        options["notes"] = data.draw(url_shapes(base, closed_port_base()), label="notes")
    elif kind == "release-compat-versions":
        for key in data.draw(st.lists(st.sampled_from(["minimum", "verified", "maximum"]), min_size=1, unique=True)):
            options[key] = data.draw(VERSIONS, label=key)
    elif kind == "release-package-id":
        options["package"] = data.draw(
            st.one_of(ANY_HOSTILE, st.sampled_from(["my-module ", "MY-MODULE", "*", "my-module\n"])).map(
                lambda s: as_option(s, 100)
            ),
            label="package",
        )
    choices = await autocomplete(env, env.maintainer, "release dry-run", "package", no_surrogates(options["package"]))
    assert all(c["value"] in ("my-module", "other-module") for c in choices)
    result = await slash(env, env.maintainer, "release dry-run", **options)
    assert result.ephemeral
    assert not result.text.startswith("Something went wrong"), result.text
    assert env.foundry.published["my-module"] == ["1.0.0"]  # a dry run never releases


MANIFEST_BODIES = st.one_of(
    JSON_VALUES.map(json.dumps),
    st.fixed_dictionaries({"id": JSON_VALUES, "version": JSON_VALUES, "compatibility": JSON_VALUES}).map(json.dumps),
    st.fixed_dictionaries(
        {
            "id": st.just("my-module"),
            "version": st.one_of(st.just("1.2.0"), JSON_VALUES),
            "compatibility": st.dictionaries(st.sampled_from(["minimum", "verified", "maximum"]), JSON_VALUES),
        }
    ).map(json.dumps),
    st.sampled_from(
        [
            "<html><body>@everyone</body></html>",
            "",
            "\x00" * 10,
            "\ufeff{}",
            "[]",
            "null",
            "NaN",
            json.dumps(manifest_doc()) + "garbage",
            "x" * 1_000_000,
            json.dumps({**manifest_doc(), "title": "<@&1> " * 50_000}),
            json.dumps(manifest_doc(version="@everyone " * 30)),
            json.dumps(manifest_doc(package="<@&1>")),
        ]
    ),
)


@fast(25)
@given(data=st.data())
async def test_manifests_of_every_wrong_shape(env, data):
    exercise("manifest-document")
    reset_release(env)
    await clear_cooldowns(env)
    body = data.draw(MANIFEST_BODIES, label="manifest body")
    status = data.draw(st.sampled_from([200, 200, 200, 404, 500, 301]), label="status")
    content_type = data.draw(st.sampled_from(["application/json", "text/html", "text/plain"]), label="type")
    url = env.foundry.serve_manifest(f"m/{abs(hash(body))}/module.json", body, status=status, content_type=content_type)
    options = {"package": "my-module", "manifest": url}
    if data.draw(st.booleans(), label="explicit"):
        options.update(version="1.2.0", minimum="12", verified="13")
    result = await slash(env, env.maintainer, "release dry-run", **options)
    assert result.ephemeral and not result.text.startswith("Something went wrong"), result.text


async def test_a_manifest_nested_100000_deep_is_reported_not_crashed_on(env):
    exercise("manifest-deep-nesting")
    reset_release(env)
    for body in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        url = env.foundry.serve_manifest(f"deep/{len(body)}/{body[:1]}/module.json", body)
        for options in ({}, {"version": "1.2.0", "minimum": "12", "verified": "13"}):
            result = await slash(env, env.maintainer, "release dry-run", package="my-module", manifest=url, **options)
            assert "could not be read" in result.text or "not JSON" in result.text, result.text


SURROGATE_CASES = {
    "foundry-400-message": (
        400,
        '{"status":"error","errors":{"__all__":[{"message":"bad \\ud800 thing","code":"x"}]}}',
        None,
    ),
    "foundry-200-page": (200, '{"status":"success","page":"https://foundryvtt.com/\\ud800"}', None),
    "manifest-version": (
        None,
        None,
        '{"id":"my-module","version":"1.2.0\\ud800","compatibility":{"minimum":"12","verified":"13"}}',
    ),
}


@pytest.mark.parametrize("case", sorted(SURROGATE_CASES))
async def test_json_escaped_surrogates_from_foundry_and_manifests(env, case):
    exercise("lone-surrogate")
    exercise("foundry-hostile-answer" if case.startswith("foundry") else "manifest-document")
    reset_release(env)
    status, body, manifest = SURROGATE_CASES[case]
    url = env.foundry.serve_manifest("v1.2.0/module.json", manifest_doc())
    options = {}
    if manifest is not None:
        url = env.foundry.serve_manifest("bad/v1.2.0/module.json", manifest, content_type="application/json")
        options["version"] = "1.2.0"
    if status is not None:
        env.foundry.fail_next(status, body, content_type="application/json")
    result = await slash(env, env.maintainer, "release dry-run", package="my-module", manifest=url, **options)
    assert not result.text.startswith("Something went wrong"), result.text


FOUNDRY_ANSWERS = st.one_of(
    st.builds(
        lambda field, message: (
            400,
            json.dumps({"status": "error", "errors": {field: [{"message": message, "code": "x"}]}}),
        ),
        st.one_of(st.sampled_from(["__all__", "manifest", "notes", "version"]), ANY_HOSTILE),
        st.one_of(ANY_HOSTILE, TEXT["long-6000"], st.just("@everyone " * 12_000)),
    ),
    st.builds(lambda errors: (400, json.dumps({"status": "error", "errors": errors})), JSON_VALUES),
    st.builds(
        lambda n: (
            400,
            json.dumps(
                {"status": "error", "errors": {f"field{i} <@&{i}>": [{"message": "@here " * 50}] for i in range(n)}}
            ),
        ),
        st.integers(1, 300),
    ),
    st.tuples(
        st.sampled_from([401, 403, 404, 418, 500, 502, 503]),
        st.one_of(
            ANY_HOSTILE, st.just("<html>" + "<p>@everyone</p>" * 10_000 + "</html>"), JSON_VALUES.map(json.dumps)
        ),
    ),
    st.tuples(
        st.just(200),
        st.one_of(
            JSON_VALUES.map(json.dumps),
            st.just('{"status":"success","page":"@everyone"}'),
            st.just('{"status":"success","page":"' + "x" * 5000 + '"}'),
        ),
    ),
    st.tuples(st.just(429), st.sampled_from(["", "Too Many Requests", "@everyone"])),
)


@fast(30)
@given(data=st.data())
async def test_foundrys_hostile_answers_become_short_replies(env, data):
    exercise("foundry-hostile-answer")
    reset_release(env)
    await clear_cooldowns(env)
    status, body = data.draw(FOUNDRY_ANSWERS, label="answer")
    retry = data.draw(st.sampled_from(["60", "-5", "abc", "1e9", "99999999999", ""]), label="retry-after")
    headers = {"Retry-After": retry} if status == 429 and retry else None
    env.foundry.fail_next(
        status, body, content_type="application/json" if body[:1] in "{[" else "text/html", headers=headers
    )
    url = env.foundry.serve_manifest("v1.2.0/module.json", manifest_doc())
    result = await slash(env, env.maintainer, "release dry-run", package="my-module", manifest=url)
    assert result.ephemeral and not result.text.startswith("Something went wrong"), result.text


@fast(12)
@given(data=st.data())
async def test_hostile_versions_all_the_way_into_the_announcement(env, data):
    exercise("release-publish-announcement")
    reset_release(env)
    await clear_cooldowns(env)
    version = data.draw(VERSIONS.filter(lambda v: v.strip() and v != "1.0.0"), label="version")
    maximum = data.draw(st.one_of(st.none(), VERSIONS), label="maximum")
    doc = manifest_doc(version=version, **({"maximum": maximum} if maximum else {}))
    url = env.foundry.serve_manifest(f"pub/{abs(hash((version, maximum)))}/module.json", doc)
    notes = data.draw(
        st.one_of(
            st.none(),
            st.just("https://example.org/notes"),
            ANY_HOSTILE.map(lambda s: as_option("https://example.org/" + s, 300)),
        ),
        label="notes",
    )
    options = {"package": "my-module", "manifest": url, **({"notes": notes} if notes else {})}
    nick = data.draw(ANY_HOSTILE.map(lambda s: s[:32]), label="nick")
    releaser = env.h.member(env.guild, "releaser", roles=["Maintainer"], nick=nick or None)
    before = len(env.h.messages_in(env.announce))
    result, preview = await answering(env, releaser, "release publish", answer="Confirm", **options)
    announced = env.h.messages_in(env.announce)[before:]
    if preview is not None and "Released" in result.text:
        [post] = announced
        assert post.allowed_mentions == {"parse": []} and not post.content
        assert not MASS_MENTION.search(post.text), post.text[:300]
    else:
        assert not announced


# --- worlds ---------------------------------------------------------------------------------------


@fast(15)
@given(data=st.data())
async def test_refresh_status_and_world_for_worlds_with_hostile_names(env, data):
    exercise("hostile-world-names")
    reset_world(env)
    world = env.world
    world.title = data.draw(st.one_of(ANY_HOSTILE, TEXT["long-6000"], st.just("")), label="title")
    world.custom_name = data.draw(st.one_of(st.none(), ANY_HOSTILE), label="custom name")
    world.system_title = data.draw(st.one_of(ANY_HOSTILE, st.just("")), label="system")
    world.foundry_version = data.draw(
        st.one_of(st.sampled_from(["13.345", "", "@everyone"]), ANY_HOSTILE), label="version"
    )
    world.add_entry(data.draw(ANY_HOSTILE, label="entry"))
    await refresh(env)
    status = await slash(env, env.gm, "status")
    assert status.ephemeral
    await pick_world(env)


async def test_world_with_an_unpaired_surrogate_in_its_title_can_be_chosen(env):
    exercise("lone-surrogate")
    reset_world(env)
    env.world.title = "Ashes \ud800 of the Valley"
    await refresh(env)  # the refresh title goes through the embed, which repairs it
    await pick_world(env)


async def pick_world(env):
    h = env.h
    newest = max(h.fake.messages, default=0)
    start = len(env.extra["log"].records)
    task = asyncio.create_task(h.slash(env.gm, env.channel, "world"))
    menu = await h.wait_for(
        lambda: (
            next((m for m in h.fake.messages.values() if m.id > newest and m.payload.get("components")), None)
            or (task.done() and -1)
        ),
        what="the /world menu",
    )
    if menu != -1:
        check_message(SentMessage(menu), where="/world menu")
        select = menu.payload["components"][0]["components"][0]
        click = await h.click(env.gm, menu.id, custom_id=select["custom_id"], values=[select["options"][0]["value"]])
        check_result(env, click, what="/world pick", log_from=start, reply=False)
    result = await task
    check_result(env, result, what="/world", log_from=start)
    return result


@fast(10)
@given(data=st.data())
async def test_thirty_online_worlds_with_hostile_names(env, data):
    exercise("many-worlds")
    reset_world(env)
    count = data.draw(st.integers(2, 30), label="worlds")
    for i in range(count):
        client_id = data.draw(
            st.one_of(st.just(f"client-{i}"), ANY_HOSTILE.map(lambda s, i=i: f"c{i}-{s}"[:150])), label="client id"
        )
        env.relay.add_world(
            client_id,
            data.draw(st.one_of(ANY_HOSTILE, TEXT["long-6000"]), label="title"),
            online=True,
            custom_name=data.draw(st.one_of(st.none(), ANY_HOSTILE), label="custom"),
        )
    async with env.app.db.transaction() as conn:  # no world chosen yet: "several worlds are online"
        await conn.execute("DELETE FROM guild_worlds")
    env.app.gm.worlds.forget_last(env.guild.id)
    assert env.bot.settings.relay_client_id is None
    several = await slash(env, env.gm, "refresh")
    assert "Several Foundry worlds" in several.text, several.text
    await pick_world(env)
    await slash(env, env.gm, "status")
    assert (await slash(env, env.gm, "refresh")).messages


# --- the helpers the fixes rely on, directly ------------------------------------------------------

ANY_TEXT = st.one_of(st.text(), *TEXT.values(), st.text(alphabet="*_~|`>#[]()\\@", max_size=300))


@fast(200)
@given(text=ANY_TEXT, limit=st.integers(1, 300))
def test_echo_stays_within_its_limit_and_never_mentions(text, limit):
    out = echo(text, limit)
    assert 1 <= len(out) <= limit
    assert not MASS_MENTION.search(out) and not re.search(r"<@[!&]?\d|<#\d", out)
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in out)
    assert out.encode("utf-8")


@fast(200)
@given(
    url=st.one_of(
        st.text(max_size=50),
        url_shapes("http://127.0.0.1:1", "http://127.0.0.1:2"),
        st.sampled_from(
            [
                "https://" + "a" * 3000,
                "http://x y",
                "https://\ud800.example",
                "https://[::1",
                "javascript:alert(1)",
                "https://ok.example/p?q=1#f",
            ]
        ),
    )
)
def test_embed_urls_are_well_formed_or_dropped(url):
    kept = safe_url(url)
    if kept is not None:
        check_url(kept, "safe_url")
    embed = to_embed(Reply(title="t", url=url, image_url=url, thumbnail_url=url))
    for link in (embed.url, embed.image.url, embed.thumbnail.url):
        assert link is None or link == kept


@fast(100)
@given(name=st.one_of(st.text(), TEXT["lone-surrogate"]), folder=st.one_of(st.none(), TEXT["lone-surrogate"]))
def test_name_entries_hold_only_encodable_text(name, folder):
    entry = NameEntry(uuid="JournalEntry.x", name=name, folder=folder)
    entry.name.encode("utf-8")
    assert entry.folder is None or entry.folder.encode("utf-8")
    assert valid_unicode(name) == entry.name and len(entry.name) == len(name)


@pytest.mark.parametrize("depth", [39, 40, 41, 1000, 20_000])
def test_html_nested_any_depth_converts_without_recursion(depth):
    exercise("deep-html")
    for tag in ("div", "ul><li", "blockquote", "b"):
        closing = "".join(f"</{t}>" for t in reversed(tag.split("><")))
        source = f"<{tag}>" * depth + "deep" + closing * depth
        assert "deep" in html_to_markdown(source, gm=False, names=lambda _u: None)
        secret = f"<{tag}>" * depth + '<section class="secret">hidden</section>' + closing * depth
        assert "hidden" not in html_to_markdown(secret, gm=False, names=lambda _u: None)


# --- the kinds, counted ---------------------------------------------------------------------------


def missing_kinds(kinds: list[str], exercised: Counter) -> list[str]:
    return [k for k in kinds if exercised[k] == 0]


def _expected_items(module) -> int:
    """How many test items this module defines (parametrize expanded), this meta-test excluded."""
    count = 0
    for name, fn in vars(module).items():
        if not name.startswith("test_") or name == "test_every_kind_of_hostile_input_was_exercised" or not callable(fn):
            continue
        n = 1
        for mark in getattr(fn, "pytestmark", []):
            if mark.name == "parametrize":
                n *= len(mark.args[1])
        count += n
    return count


def test_every_kind_of_hostile_input_was_exercised(request):
    assert len(KINDS) >= 30 and len(set(KINDS)) == len(KINDS), "at least 30 distinct kinds"
    assert missing_kinds(["a", "b"], Counter({"a": 1})) == ["b"]  # the check below can fail
    ran = [i for i in request.session.items if i.module is request.module and i is not request.node]
    if len(ran) < _expected_items(request.module):
        pytest.skip("only part of this file was selected; the kinds are counted on a full run")
    assert missing_kinds(KINDS, EXERCISED) == [], f"kinds no test exercised: {missing_kinds(KINDS, EXERCISED)}"
    assert math.fsum(EXERCISED.values()) >= 2 * len(KINDS)
