-- Query cache invalidation by table (docs/cache.md, trigger format v1).
-- A statement-level trigger calls this after INSERT/UPDATE/DELETE/TRUNCATE; NOTIFY is delivered
-- only when the writing transaction commits, so listeners never invalidate for a rolled-back write.
-- Payload: "v1:<schema>.<table>".
create or replace function opsctl.cache_notify() returns trigger
language plpgsql as $$
begin
  perform pg_notify('opsctl_cache', 'v1:' || tg_table_schema || '.' || tg_table_name);
  return null;
end
$$;
