"""The schema, one list of statements per version. Append; never edit a released step.

PRAGMA user_version records how many steps a database has had.
"""

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
]
