FROM python:3.11-slim-bookworm
# A Debian release, pinned: a rebuild months from now gets the same OS underneath.

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/app/data/bot.sqlite3 \
    HEARTBEAT_FILE=/tmp/foundry-campaign-bot.heartbeat

# The user first: a code change rebuilds only the layers below.
RUN useradd --create-home --uid 10001 bot
WORKDIR /app

# Fully pinned, hashed dependencies (requirements.txt is generated from requirements.in).
COPY requirements.txt .
RUN pip install --no-cache-dir --require-hashes -r requirements.txt

# The code stays owned by root: the bot can read it, not change it. Only data/ is the bot's
# (after the copy, which would otherwise hand the folder back to root).
COPY . .
RUN mkdir -p /app/data && chown bot:bot /app/data
USER bot

# The SQLite name map, world choices and release log live here. The heartbeat does not (see core/health.py).
VOLUME ["/app/data"]

# bot.py finishes running commands (up to 8 s), then closes the HTTP session and the database on SIGTERM.
# Give it longer than that to stop: docker run --stop-timeout 20 (README).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=10s --start-period=90s --retries=3 CMD ["python", "-m", "core.health"]

CMD ["python", "bot.py"]
