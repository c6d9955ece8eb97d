-- Unicode text (NUL-free) in values, identifiers, errors and COPY.

-- case: unicode_values
SELECT 'Grüße' AS de, 'こんにちは' AS ja, 'Привет' AS ru, 'مرحبا' AS ar, '🎉👍🏽' AS emoji,
       'e' || chr(769) AS combining, chr(65533) AS replacement, chr(1114111) AS max_cp

-- case: unicode_identifiers
SELECT 1 AS "列名", 2 AS "колонка", 3 AS "émoji 🎉", 4 AS "MixedCase"

-- case: unicode_functions
SELECT length('🎉👍🏽') AS len, octet_length('🎉👍🏽') AS octets, upper('straße') AS up,
       reverse('åäö') AS rev, normalize('e' || chr(769), NFC) AS nfc, md5('ü') AS h

-- case: unicode_escapes
SELECT U&'\00e9\+01F600' AS uesc, E'\u00e9\U0001F600' AS eesc

-- case: unicode_table_data
SELECT id, name, length(name) FROM items WHERE name ~ '[^a-z]' ORDER BY id

-- case: unicode_insert_and_readback
INSERT INTO uniq VALUES (90, 'ünïcödé ✓ 漢字');
SELECT k, v, convert_to(v, 'UTF8') AS bytes FROM uniq WHERE k = 90

-- case: unicode_copy_roundtrip
COPY copy_target FROM STDIN;
1	Grüße
2	日本語テキスト
3	🎉 party
\.
COPY (SELECT * FROM copy_target ORDER BY id) TO STDOUT

-- case: invalid_utf8_bytes_conversion_error
SELECT convert_from('\xc328'::bytea, 'UTF8')

-- case: long_unicode_value
SELECT repeat('日本', 300000) AS big
