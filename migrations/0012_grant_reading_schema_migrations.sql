-- /readyz (schema/health.py) checks that no migration is pending with the application's own pool, which acts as
-- registry_app: it may read which migrations were applied (their names and checksums; nothing else is there).
GRANT SELECT ON schema_migrations TO registry_app;
