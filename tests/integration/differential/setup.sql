-- Objects the differential cases use. Run once per test run, directly on the primary, inside a
-- schema unique to the run (search_path already points at it). Not a case file.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE TYPE nested AS (p pair, tags text[], m mood);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);

CREATE TABLE items (
    id    int PRIMARY KEY,
    name  text NOT NULL UNIQUE,
    qty   int CHECK (qty >= 0),
    price numeric(12, 2),
    tags  text[],
    meta  jsonb,
    m     mood
);
INSERT INTO items VALUES
    (1, 'apple', 10, 1.50, '{red,fruit}', '{"k": 1, "nested": {"a": [1, 2, null]}}', 'happy'),
    (2, 'banana', 0, NULL, NULL, 'null', 'ok'),
    (3, 'cherry', NULL, 100.00, '{}', NULL, NULL),
    (4, 'dürüm', 7, 12345678.99, '{"with space","with,comma","with\"quote",NULL}', '[]', 'sad');

CREATE TABLE alltypes (
    id int PRIMARY KEY,
    i2 int2, i4 int4, i8 int8, num numeric, f4 float4, f8 float8, b bool,
    t text, vc varchar(20), ch char(5), by bytea,
    d date, tm time, tmtz timetz, ts timestamp, tstz timestamptz, iv interval,
    u uuid, j json, jb jsonb, ia int[], ta text[], na numeric[],
    ip inet, cn cidr, mac macaddr, mo money, r int4range, tr tstzrange,
    p pair, m mood, pt point, bits bit varying(16), x xml, pi posint, o oid
);
INSERT INTO alltypes VALUES
    (1, 32767, -2147483648, 9223372036854775807, 123456789012345678901234567890.123456789012345678901234567890,
     3.14, -2.718281828459045, true, 'héllo wörld', 'varchar', 'ab', '\x00ff10deadbeef',
     '2024-02-29', '23:59:59.999999', '12:00:00+05:30', '2000-01-01 00:00:00.000001',
     '1999-12-31 23:59:59.5+00', '1 year 2 mons 3 days 04:05:06.789',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1,  "b": [true, null]}', '{"b": [true, null], "a": 1}',
     '{1,2,NULL,4}', '{"x","y z",NULL}', '{1.5,NaN,-0}',
     '192.168.1.10/24', '10.0.0.0/8', '08:00:2b:01:02:03', 12.34, '[1,10)', '[2024-01-01 00:00+00,2024-02-01 00:00+00)',
     ROW(7, 'seven'), 'happy', '(1.5,-2)', B'1011', '<a>x</a>', 5, 12345),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL),
    (3, -32768, 0, -9223372036854775808, -0.000000000000000000000000000001, 'NaN', '-Infinity', false,
     '', '', '', '\x', '0001-01-01', '00:00', '00:00:00-12', '1970-01-01 00:00', '2038-01-19 03:14:08+00',
     '-1 days -00:00:01', '00000000-0000-0000-0000-000000000000', '[]', '{}', '{}', '{}', '{}',
     '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', -0.01, 'empty', '(,)',
     ROW(NULL, NULL), 'sad', '(0,0)', B'', '<r/>', 1, 0);

CREATE TABLE copy_target (id int, val text);
CREATE TABLE uniq (k int PRIMARY KEY, v text);
INSERT INTO uniq VALUES (1, 'one'), (2, 'two');
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (id int PRIMARY KEY, pid int NOT NULL REFERENCES parent (id));
INSERT INTO parent VALUES (1);
CREATE TABLE committed_log (id int PRIMARY KEY, note text);

CREATE FUNCTION noisy(n int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        RAISE NOTICE 'noisy % of %', i, n;
    END LOOP;
    RETURN n;
END $$;

CREATE FUNCTION fail_with(state text, msg text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = state, MESSAGE = msg, DETAIL = 'detail for ' || msg,
                          HINT = 'hint for ' || msg;
END $$;

CREATE FUNCTION set_of_pairs(n int) RETURNS SETOF pair LANGUAGE sql AS $$
    SELECT i, 'p' || i FROM generate_series(1, n) i
$$;

CREATE VIEW item_names AS SELECT id, upper(name) AS uname FROM items;
