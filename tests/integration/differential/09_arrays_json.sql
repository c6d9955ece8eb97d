-- Arrays, json and jsonb.

-- case: int_and_text_arrays
SELECT ARRAY[1, 2, 3] AS ia, ARRAY['a', 'b c', 'd,e', 'f"g', 'h\i', ''] AS ta, '{}'::int[] AS empty,
       ARRAY[1.5, 2.25]::numeric[] AS na, ARRAY[true, false, NULL] AS ba

-- case: multidimensional_arrays
SELECT ARRAY[[1, 2], [3, 4]] AS m2, ARRAY[[[1], [2]], [[3], [4]]] AS m3, '[0:2]={7,8,9}'::int[] AS lower_bound,
       array_dims('[0:2]={7,8,9}'::int[]) AS dims

-- case: arrays_of_special_types
SELECT ARRAY['2024-01-01'::date, NULL] AS dates, ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid] AS uuids,
       ARRAY['\x00ff'::bytea, '\x'::bytea] AS byteas, ARRAY['1 day'::interval] AS ivs,
       ARRAY['NaN'::float8, 'Infinity', '-0'] AS floats, ARRAY['happy'::mood, 'sad'] AS moods,
       ARRAY[ROW(1, 'x')::pair, NULL] AS pairs, ARRAY['{"a":1}'::jsonb, 'null'] AS jsons,
       ARRAY['192.168.0.1'::inet] AS inets, ARRAY['[1,2)'::int4range] AS ranges

-- case: array_functions
SELECT array_length(ARRAY[1, 2, 3], 1) AS len, cardinality(ARRAY[[1, 2], [3, 4]]) AS card,
       unnest(ARRAY['x', 'y']) AS elem, array_position(ARRAY['a', 'b'], 'b') AS pos

-- case: table_array_column
SELECT id, tags, tags[1] AS first, array_length(tags, 1) AS n FROM items ORDER BY id

-- case: array_subscript_error
SELECT ('{1,2}'::int[])[1:2][1:2], '{{1,2},{3}}'::int[]

-- case: json_values
SELECT '{"b": 2, "a": 1, "a": 3}'::json AS j_dup_keys, '{"b": 2, "a": 1, "a": 3}'::jsonb AS jb_dup_keys,
       '  [1,  2 , "x"]  '::json AS j_spaces, '"string"'::jsonb AS jb_str, '12.500'::jsonb AS jb_num,
       '{"u": "\u00e9\ud83d\ude00"}'::jsonb AS jb_unicode, 'true'::json AS j_bool

-- case: jsonb_operators
SELECT meta, meta -> 'k' AS k, meta #> '{nested,a}' AS path, meta ? 'k' AS has_k,
       jsonb_typeof(meta) AS typ, meta @> '{"k": 1}' AS contains
FROM items ORDER BY id

-- case: jsonb_functions
SELECT jsonb_build_object('a', 1, 'b', ARRAY[1, 2], 'c', NULL) AS obj,
       jsonb_pretty('{"a": {"b": [1, 2]}}') AS pretty, jsonb_set('{"a": 1}', '{b}', '"new"') AS set,
       jsonb_path_query_array('{"a": [1, 2, 3, 4]}', '$.a[*] ? (@ > 2)') AS path_q

-- case: json_each_and_agg
SELECT key, value FROM jsonb_each('{"x": 1, "y": [true], "z": null}') ORDER BY key;
SELECT json_agg(i ORDER BY i) AS agg, json_object_agg(i, i * i) AS obj FROM generate_series(1, 5) i

-- case: row_to_json_of_table
SELECT row_to_json(a) AS rj FROM (SELECT id, i8, num, t, ts, tstz, ia, p, m FROM alltypes ORDER BY id) a

-- case: json_invalid_input
SELECT '{"a": }'::jsonb

-- case: jsonpath_and_sqljson
SELECT '$.a[*] ? (@ > 1)'::jsonpath AS jp, jsonb_path_exists('{"a": [1, 2]}', '$.a[*] ? (@ > 1)') AS ex
