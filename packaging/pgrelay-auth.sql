-- pgrelay's auth.query: a role that may read SCRAM verifiers through one function, and nothing
-- else. Run as a superuser (psql -f) in each database pgrelay serves, or in the one auth.database
-- names; then set the role's password (ALTER ROLE pgrelay_auth PASSWORD '…') and put it in
-- auth.password_env. Safe to run again.
CREATE SCHEMA IF NOT EXISTS pgrelay;
REVOKE ALL ON SCHEMA pgrelay FROM PUBLIC;

-- SECURITY DEFINER: pgrelay_auth never reads pg_authid itself. The search_path is pinned so a
-- caller's objects cannot stand in for pg_catalog's. Roles that may not log in (NOLOGIN, VALID
-- UNTIL in the past) come back flagged, so pgrelay refuses them and says why in its log.
CREATE OR REPLACE FUNCTION pgrelay.user_lookup(p_user text,
    OUT username text, OUT verifier text, OUT can_login boolean, OUT expired boolean)
  RETURNS SETOF record
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT rolname::text, rolpassword, rolcanlogin, coalesce(rolvaliduntil < now(), false)
    FROM pg_catalog.pg_authid
   WHERE rolname = p_user
$$;
REVOKE ALL ON FUNCTION pgrelay.user_lookup(text) FROM PUBLIC;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgrelay_auth') THEN
    CREATE ROLE pgrelay_auth LOGIN;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA pgrelay TO pgrelay_auth;
GRANT EXECUTE ON FUNCTION pgrelay.user_lookup(text) TO pgrelay_auth;
