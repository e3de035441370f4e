"""The schema, one list of statements per version. Append; never edit a released step.

The statements are written once, in SQLite's words, and rendered for PostgreSQL by ``for_postgres``: SQLite's
INTEGER and REAL are 64-bit (Discord ids, UNIX times), so they become BIGINT and DOUBLE PRECISION; the rowid
alias ``INTEGER PRIMARY KEY`` becomes an identity column; BLOB becomes BYTEA. ``COLLATE NOCASE`` needs no
rendering: ``POSTGRES_PRELUDE`` creates a case-insensitive collation of that name. Write new steps with these
types only (TEXT, INTEGER, REAL, BLOB) and SQL both accept; the storage tests run every step on both.

SQLite records how many steps a database has had in PRAGMA user_version, PostgreSQL in schema_version.
"""

import re

MIGRATIONS: list[list[str]] = [
    # 1: the name -> uuid map per world, and each guild's chosen world.
    [
        """CREATE TABLE name_entries (
            world TEXT NOT NULL,
            uuid TEXT NOT NULL,
            name TEXT NOT NULL,
            folder TEXT,
            PRIMARY KEY (world, uuid)
        )""",
        "CREATE INDEX name_entries_by_name ON name_entries (world, name COLLATE NOCASE)",
        """CREATE TABLE name_maps (
            world TEXT PRIMARY KEY,
            refreshed_at REAL NOT NULL,
            complete INTEGER NOT NULL,
            note TEXT
        )""",
        """CREATE TABLE guild_worlds (
            guild_id INTEGER PRIMARY KEY,
            client_id TEXT NOT NULL,
            label TEXT,
            chosen_by INTEGER,
            chosen_at REAL NOT NULL
        )""",
    ],
    # 2: releases: a per-package cooldown from 429 Retry-After, and a log of every attempt.
    [
        """CREATE TABLE release_cooldowns (
            package_id TEXT PRIMARY KEY,
            until REAL NOT NULL
        )""",
        """CREATE TABLE release_log (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            package_id TEXT NOT NULL,
            version TEXT,
            dry_run INTEGER NOT NULL,
            options TEXT NOT NULL,
            status TEXT NOT NULL,
            http_status INTEGER,
            answer TEXT
        )""",
    ],
    # 3: who a member sees as (per guild and world), and what each player view may see.
    [
        """CREATE TABLE player_links (
            guild_id INTEGER NOT NULL,
            world TEXT NOT NULL,
            member_id INTEGER NOT NULL,
            foundry_user_id TEXT NOT NULL,
            foundry_user_name TEXT NOT NULL,
            linked_by INTEGER,
            linked_at REAL NOT NULL,
            PRIMARY KEY (guild_id, world, member_id)
        )""",
        """CREATE TABLE visibility_views (
            world TEXT NOT NULL,
            viewer TEXT NOT NULL,
            computed_at REAL NOT NULL,
            PRIMARY KEY (world, viewer)
        )""",
        """CREATE TABLE visible_entries (
            world TEXT NOT NULL,
            viewer TEXT NOT NULL,
            uuid TEXT NOT NULL,
            limited INTEGER NOT NULL,
            PRIMARY KEY (world, viewer, uuid)
        )""",
    ],
    # 4: the bot's own relay requests per calendar month (UTC), for hosted relays' monthly quotas.
    [
        """CREATE TABLE relay_requests (
            month TEXT PRIMARY KEY,
            requests INTEGER NOT NULL,
            background INTEGER NOT NULL
        )""",
    ],
    # 5: hosted mode: each server's own settings and sealed secrets; relay pacing shared by processes.
    [
        """CREATE TABLE guild_settings (
            guild_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            set_by INTEGER,
            set_at REAL NOT NULL,
            PRIMARY KEY (guild_id, name)
        )""",
        """CREATE TABLE guild_secrets (
            guild_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            key_id TEXT NOT NULL,
            sealed BLOB NOT NULL,
            set_by INTEGER,
            role_id INTEGER,
            set_at REAL NOT NULL,
            PRIMARY KEY (guild_id, kind, name)
        )""",
        """CREATE TABLE pacing_buckets (
            bucket TEXT PRIMARY KEY,
            tokens REAL NOT NULL,
            stamp REAL NOT NULL
        )""",
    ],
    # 6: when each world's map was last checked against Foundry (an unchanged check writes no map rows), so
    # processes sharing the database check each world once per interval between them.
    [
        """CREATE TABLE map_checks (
            world TEXT PRIMARY KEY,
            checked_at REAL NOT NULL
        )""",
    ],
]

# Run once on an empty PostgreSQL schema, before step 1.
POSTGRES_PRELUDE = [
    "CREATE TABLE schema_version (version BIGINT NOT NULL)",
    "INSERT INTO schema_version (version) VALUES (0)",
    # Like SQLite's NOCASE: compares ignoring case (ICU, which Debian's PostgreSQL is built with).
    "CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
]

_POSTGRES_TYPES = [
    (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
]


def for_postgres(statement: str) -> str:
    """One migration statement in PostgreSQL's words (the mapping above)."""
    for pattern, replacement in _POSTGRES_TYPES:
        statement = pattern.sub(replacement, statement)
    return statement
