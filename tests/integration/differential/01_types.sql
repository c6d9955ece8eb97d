-- Scalar types, text and binary results. Every case runs in its own transaction (rolled back).

-- case: integers
SELECT 1::int2 AS a, (-32768)::int2 AS b, 2147483647::int4 AS c, (-2147483648)::int4 AS d,
       9223372036854775807::int8 AS e, (-9223372036854775808)::int8 AS f, 0::int8 AS g

-- case: integer_overflow_error
SELECT 2147483647::int4 + 1

-- case: numeric_big_precision
SELECT 123456789012345678901234567890.123456789012345678901234567890::numeric AS big,
       (1::numeric / 3)::numeric(60, 55) AS third,
       '-0.000000000000000000000000000000000000001'::numeric AS tiny,
       1e300::numeric * 1e300::numeric AS huge,
       'NaN'::numeric AS nan,
       12.50::numeric(10, 4) AS scaled

-- case: numeric_infinity
SELECT 'Infinity'::numeric AS pinf, '-Infinity'::numeric AS ninf

-- case: floats_special
SELECT 'NaN'::float8 AS nan8, 'Infinity'::float8 AS inf8, '-Infinity'::float8 AS ninf8,
       'NaN'::float4 AS nan4, 'Infinity'::float4 AS inf4, '-0'::float8 AS negzero,
       1.0e-308::float8 AS small, 3.4028235e38::float4 AS max4, 0.1::float8 + 0.2::float8 AS imprecise

-- case: bool_values
SELECT true AS t, false AS f, NULL::bool AS n, 't'::bool AND 'yes'::bool AS yes

-- case: text_varchar_char
SELECT 'plain'::text AS t, 'abc'::varchar(10) AS vc, 'ab'::char(5) AS ch, ''::text AS empty,
       repeat('x', 1000) AS long, E'tab\there\nnewline\\backslash' AS escapes, 'quote''s' AS q

-- case: name_and_char_types
SELECT 'a name'::name AS nm, 'x'::"char" AS onechar, current_user AS cu, 'tbl'::regclass::text AS rc

-- case: bytea_values
SELECT '\x'::bytea AS empty, '\x00'::bytea AS nul, '\xdeadbeef00ff'::bytea AS some,
       decode(repeat('00ff', 512), 'hex') AS kb, convert_to('héllo', 'UTF8') AS utf8

-- case: bytea_escape_output
SET LOCAL bytea_output = 'escape';
SELECT '\x00ff41'::bytea AS esc, 'abc'::bytea AS plain

-- case: date_time_types
SELECT '2024-02-29'::date AS d, '0001-01-01'::date AS d_min, '9999-12-31'::date AS d_max,
       '23:59:59.999999'::time AS t, '12:00:00+05:30'::timetz AS ttz,
       '2000-01-01 00:00:00.000001'::timestamp AS ts,
       '1999-12-31 23:59:59.5+03'::timestamptz AS tstz,
       '1970-01-01 00:00:00+00'::timestamptz AS epoch

-- case: date_bc_and_infinity_as_text
SELECT '2000-01-01 BC'::date::text AS bc, 'infinity'::date::text AS inf, '-infinity'::timestamp::text AS ninf,
       'infinity'::timestamptz::text AS tinf

-- case: intervals
SELECT '1 year 2 mons 3 days 04:05:06.789'::interval AS mixed, '-1 days -00:00:01'::interval AS neg,
       '00:00:00.000001'::interval AS micro, '1000 days'::interval AS days, '0'::interval AS zero

-- case: interval_styles
SET LOCAL IntervalStyle = 'iso_8601';
SELECT '1 year 2 mons 3 days 04:05:06'::interval AS iso;
SET LOCAL IntervalStyle = 'sql_standard';
SELECT '1 year 2 mons'::interval AS sqlstd, '3 days 04:05:06'::interval AS dt

-- case: datestyle_changes
SET LOCAL DateStyle = 'German, DMY';
SELECT '2024-03-05'::date AS d, '2024-03-05 06:07:08'::timestamp AS ts;
SET LOCAL DateStyle = 'SQL, MDY';
SELECT '2024-03-05'::date AS d2, '2024-03-05 06:07:08+00'::timestamptz AS tz

-- case: timezone_local_change
SET LOCAL TimeZone = 'America/New_York';
SELECT '2024-07-01 12:00:00+00'::timestamptz AS ny_summer, '2024-01-01 12:00:00+00'::timestamptz AS ny_winter,
       current_setting('TimeZone') AS tz

-- case: timezone_utc_default
SELECT current_setting('TimeZone') AS tz, '2024-07-01 12:00:00+02'::timestamptz AS ts

-- case: uuid_values
SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '00000000-0000-0000-0000-000000000000'::uuid AS z,
       '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'::uuid AS braces

-- case: network_types
SELECT '192.168.1.10/24'::inet AS i4, '::1'::inet AS i6, '10.0.0.0/8'::cidr AS c4, '2001:db8::/32'::cidr AS c6,
       '08:00:2b:01:02:03'::macaddr AS mac, '08:00:2b:01:02:03:04:05'::macaddr8 AS mac8,
       host('192.168.1.10/24'::inet) AS h

-- case: money_values
SELECT 12.34::money AS m, -0.01::money AS neg, 92233720368547758.07::money AS big

-- case: enum_values
SELECT 'happy'::mood AS m, enum_range(NULL::mood) AS r, 'sad'::mood < 'ok'::mood AS lt

-- case: enum_invalid
SELECT 'ecstatic'::mood

-- case: composite_values
SELECT ROW(1, 'one')::pair AS p, ROW(NULL, NULL)::pair AS pnull,
       ROW(ROW(2, 'two with "quotes", commas'), ARRAY['a', NULL], 'ok')::nested AS n,
       (ROW(3, 'x')::pair).b AS field

-- case: anonymous_record
SELECT ROW(1, 'a', NULL, 2.5) AS rec, (1, 2) AS pair2

-- case: ranges
SELECT '[1,10)'::int4range AS r, 'empty'::int4range AS e, '(,)'::int8range AS unbounded,
       '[1.5,2.5]'::numrange AS nr, '[2024-01-01,2024-02-01)'::daterange AS dr,
       '[2024-01-01 00:00+00,2024-02-01 00:00+00)'::tstzrange AS tr, int4range(5, 3, '[]') IS NULL AS never

-- case: multirange
SELECT '{[1,3), [5,7)}'::int4multirange AS mr, '{}'::int4multirange AS empty_mr

-- case: geometric_and_bits
SELECT '(1.5,-2)'::point AS pt, '((0,0),(1,1))'::box AS bx, '<(0,0),1>'::circle AS ci,
       B'1011'::bit(4) AS b4, B'101'::varbit AS vb, '{1,2,3}'::line::text AS ln

-- case: xml_and_misc
SELECT '<a>x</a>'::xml AS x, 12345::oid AS o, 'int4'::regtype AS rt, '1/0'::pg_lsn AS lsn,
       'a fat cat'::tsvector AS tv, 'fat & cat'::tsquery AS tq

-- case: domain_values
SELECT 5::posint AS ok

-- case: domain_violation
SELECT 0::posint

-- case: alltypes_table_rows
SELECT * FROM alltypes ORDER BY id

-- case: alltypes_casts_to_text
SELECT id, i2::text, num::text, f4::text, f8::text, by::text, ts::text, tstz::text, iv::text, jb::text,
       ia::text, r::text, tr::text, p::text, mo::text, x::text FROM alltypes ORDER BY id

-- case: unknown_and_void
SELECT 'literal' AS unknown_literal, pg_sleep(0) AS void_result, NULL AS bare_null
