"""The database room: models, engine, migrations, the job queue's SQL, read queries and blob storage."""
