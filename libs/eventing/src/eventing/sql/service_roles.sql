-- One service's database roles: an owner that owns the service's schema and runs its
-- migrations, and the service's own login that may only use what the owner creates there.
-- Idempotent: run on every deployment, before the migrations, by a role that may create roles
-- (the RDS master user, the local superuser). Parameters, read with current_setting():
--   careplan.schema            the service's schema (provider_schedule, care_plan)
--   careplan.owner_role        owner_password      the migrations' login
--   careplan.service_role      service_password    the service's login
--   careplan.extensions        extensions the migrations need, comma-separated (may be empty):
--                              database-wide, and only the admin may create them
-- They are session settings, not text spliced into SQL, so a password never appears in a
-- statement (nor in a statement log).
do $roles$
declare
    schema_name text := current_setting('careplan.schema');
    owner_role text := current_setting('careplan.owner_role');
    service_role text := current_setting('careplan.service_role');
    relation record;
    extension text;
begin
    foreach extension in array string_to_array(current_setting('careplan.extensions'), ',') loop
        execute format('create extension if not exists %I', trim(extension));
    end loop;

    if not exists (select from pg_roles where rolname = owner_role) then
        execute format('create role %I', owner_role);
    end if;
    if not exists (select from pg_roles where rolname = service_role) then
        execute format('create role %I', service_role);
    end if;
    -- Set on every run: a rotated password, or a role someone widened by hand, is put back.
    execute format(
        'alter role %I login nosuperuser nocreatedb nocreaterole noinherit noreplication '
        'nobypassrls password %L',
        owner_role, current_setting('careplan.owner_password'));
    execute format(
        'alter role %I login nosuperuser nocreatedb nocreaterole noinherit noreplication '
        'nobypassrls password %L',
        service_role, current_setting('careplan.service_password'));

    -- On RDS the master user is no superuser: it must be a member of the owner to hand it a
    -- schema and to set default privileges for it.
    execute format('grant %I to current_user', owner_role);

    execute format('create schema if not exists %I authorization %I', schema_name, owner_role);
    execute format('alter schema %I owner to %I', schema_name, owner_role);
    -- A schema the master migrated before these roles existed: its tables move to the owner.
    for relation in
        select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = schema_name and c.relkind in ('r', 'p', 'S', 'v', 'm')
          and pg_get_userbyid(c.relowner) <> owner_role
    loop
        execute format('alter table %I.%I owner to %I', schema_name, relation.relname, owner_role);
    end loop;

    -- The service: data in its own schema, no DDL (no CREATE on the schema, none on the
    -- database), nothing in any other schema (no USAGE there).
    execute format('revoke all on schema %I from public', schema_name);
    execute format('revoke create on schema %I from %I', schema_name, service_role);
    execute format('grant usage on schema %I to %I', schema_name, service_role);
    execute format(
        'grant select, insert, update, delete on all tables in schema %I to %I',
        schema_name, service_role);
    execute format(
        'grant usage, select on all sequences in schema %I to %I', schema_name, service_role);
    -- ... and on whatever later migrations create, since the owner runs them.
    execute format(
        'alter default privileges for role %I in schema %I '
        'grant select, insert, update, delete on tables to %I',
        owner_role, schema_name, service_role);
    execute format(
        'alter default privileges for role %I in schema %I grant usage, select on sequences to %I',
        owner_role, schema_name, service_role);
    execute format('grant connect on database %I to %I, %I',
        current_database(), owner_role, service_role);
end
$roles$;
