# One image for every Zixly process; the command picks the process:
#   python -m db upgrade | python -m webhook | python -m sync | python -m sandbox
#   streamlit run app/server.py --server.address 0.0.0.0
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ZIXLY_VAR_DIR=/app/var \
    ZIXLY_BLOB_URL=/app/var/blobs

# An unprivileged user owns nothing but var/ (SQLite, local blobs, the generated key).
RUN groupadd --system --gid 10001 zixly \
 && useradd --system --uid 10001 --gid zixly --home-dir /app --shell /usr/sbin/nologin zixly

WORKDIR /app

# Dependencies first, so code changes do not reinstall them (psycopg[binary] needs no compiler).
COPY requirements.lock .
RUN pip install --require-hashes -r requirements.lock

COPY . .
RUN mkdir -p /app/var && chown zixly:zixly /app/var

USER zixly

# webhook, dashboard, runner metrics, sandbox
EXPOSE 3000 8501 9102 3900

CMD ["python", "-m", "webhook"]
