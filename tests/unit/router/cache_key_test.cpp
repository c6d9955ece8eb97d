// Literal-free keys: same statement shape, same key; anything that changes meaning, a new key.
#include <catch2/catch.hpp>

#include "pgrelay/router/cache_key.hpp"
#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/function_catalog.hpp"

using namespace pgrelay::router;

TEST_CASE("literals do not change the key") {
  CHECK(literal_free_key("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;") ==
        literal_free_key("SELECT abalance FROM pgbench_accounts WHERE aid = 7;"));
  CHECK(literal_free_key("select * from t where name = 'bob' and x > 1.5e-3") ==
        literal_free_key("select * from t where name = 'it''s' and x > 2"));
  CHECK(literal_free_key("select E'a\\'b' from t") == literal_free_key("select E'zz' from t"));
}

TEST_CASE("identifiers, functions, comments and quoting are kept") {
  CHECK(literal_free_key("select * from t1") != literal_free_key("select * from t2"));
  CHECK(literal_free_key("select nextval('s')") != literal_free_key("select currval('s')"));
  CHECK(literal_free_key("/* pgrelay: route=primary */ select 1") != literal_free_key("select 1"));
  CHECK(literal_free_key("select \"a 1\" from t") == "select \"a 1\" from t");
  CHECK(literal_free_key("select $1, $2 from t") == "select $1, $2 from t");
  CHECK(literal_free_key("do $$ begin perform 1; end $$") == "do $$ begin perform 1; end $$");
  // a literal cannot hide a statement: the quote is removed whole, the keyword stays outside
  CHECK(literal_free_key("select 'x'; delete from t") == "select ''; delete from t");
  // A -- comment ends at a carriage return as at a line feed (Postgres's scan.l): what follows is
  // a statement, with its literals.
  CHECK(literal_free_key("-- c\rselect 5") == literal_free_key("-- c\rselect 6"));
  CHECK(literal_free_key("-- c 5\nselect 1") != literal_free_key("-- c 6\nselect 1"));
}

TEST_CASE("a key classifies like the text it came from") {
  for (const char* sql : {"select * from t where a = 5 for update", "insert into t values (1, 'a')",
                          "select 1", "select nextval('seq')", "with d as (delete from t where id = 3 returning *) select * from d",
                          "select * from t where s = E'\\\\' and n = 10"}) {
    INFO(sql);
    CHECK(classify(literal_free_key(sql)).kind == classify(sql).kind);
  }
}

TEST_CASE("an unterminated literal does not share the key of a terminated one") {
  // Found by fuzz_classify: "select 'abc" (a parse error) had the key of "select ''" (read-only),
  // so whichever came first decided how the other was routed.
  CHECK(literal_free_key("select 'abc") != literal_free_key("select 'abc'"));
  CHECK(literal_free_key("select 'abc") == "select 'abc");
  CHECK(literal_free_key("select E'a\\'") == "select E'a\\'");
  CHECK(classify(literal_free_key("select 'abc")).kind == statement_kind::parse_error);
}

TEST_CASE("an exponent sign without digits is not part of the number") {
  // Found by fuzz_classify: "5.5e+$tag$…" keyed to "0$tag$…", where the dollar quote no longer
  // opens (it follows an identifier character), so the key was not a fixed point.
  CHECK(literal_free_key("select 5.5e+$t$ 'a' $t$") == "select 0+$t$ 'a' $t$");
  CHECK(literal_free_key(literal_free_key("select 5.5e+$t$ 'a' $t$")) ==
        literal_free_key("select 5.5e+$t$ 'a' $t$"));
  CHECK(literal_free_key("select 1.5e+10, 2E-3") == "select 0, 0");
}

TEST_CASE("a number ending in '.' keeps the dot so a following dollar quote still opens") {
  // Found by fuzz_classify: "1.$tag$ … $tag$" keyed to "0$tag$ … $tag$", where the dollar quote
  // no longer opens after the identifier character '0'.
  CHECK(literal_free_key("select 1.$t$ 'a' $t$") == "select 0.$t$ 'a' $t$");
  CHECK(literal_free_key(literal_free_key("select 1.$t$ 'a' $t$")) == "select 0.$t$ 'a' $t$");
  CHECK(literal_free_key("select 1.5, 2.") == "select 0, 0.");
}

TEST_CASE("bytes above 0x7f are identifier characters, as in the Postgres scanner") {
  // Found by fuzz_classify: in "\xf1E'a\''…" the E belongs to the identifier "\xf1E", so the
  // literal is a plain one where \ is not an escape. Reading it as E'…' let a read-only text and
  // a text hiding a DELETE share one key (and one cached classification).
  const std::string read_only = "select \xf1" "E'a\\'' ; delete from t; --'";
  const std::string writes = "select \xf1" "E'zz' ; delete from t; --'";
  CHECK(classify(read_only).kind == statement_kind::read_only);
  CHECK(classify(writes).kind == statement_kind::write);
  CHECK(literal_free_key(read_only) != literal_free_key(writes));
  CHECK(classify(literal_free_key(read_only)).kind == statement_kind::read_only);
}

TEST_CASE("the key written into a reused buffer is the returned key") {
  std::string out = "left over from a longer statement";
  for (const char* sql : {"select 1", "", "select \"a\"\"b\" from t where x = 'y' -- c", "select 1.$t$ 'a' $t$",
                          "select E'a\\'", "select t1.a2 from t1 where b = 10e5"}) {
    INFO(sql);
    literal_free_key(sql, out);
    CHECK(out == literal_free_key(sql));
  }
}

TEST_CASE("a number is found at every position, whatever bytes surround it") {
  // The key builder skips eight bytes at a time: a digit anywhere in a word, or just after
  // one, must still start a number; a digit glued to a name (any byte from 0x80) must not.
  for (std::size_t at = 0; at < 24; ++at) {
    for (int b = 1; b < 256; ++b) {
      std::string sql(24, ' ');
      sql[at] = static_cast<char>(b);
      INFO("byte " << b << " at " << at);
      const bool digit = b >= '0' && b <= '9';
      std::string want = sql;
      if (digit) want[at] = '0';
      if (b == '\'' || b == '"') want = sql;  // an unterminated quote keeps the rest as it is
      CHECK(literal_free_key(sql) == want);
    }
    if (at == 0) continue;
    std::string glued(24, 'x');  // "x7": the digit continues a name
    glued[at] = '7';
    CHECK(literal_free_key(glued) == glued);
    glued[at - 1] = static_cast<char>(0xC3);  // so does a byte of a UTF-8 name
    CHECK(literal_free_key(glued) == glued);
  }
}

TEST_CASE("the classification cache: literal variants share an entry, other changes do not") {
  classification_cache cache(16);
  const auto& catalog = builtin_functions();
  CHECK(cache.get("select * from t where a = 1", catalog).kind == statement_kind::read_only);
  CHECK(cache.get("select * from t where a = 2", catalog).kind == statement_kind::read_only);
  CHECK(cache.size() == 1);
  // The key itself is looked up as text first: it finds the same entry.
  CHECK(cache.get("select * from t where a = 0", catalog).kind == statement_kind::read_only);
  CHECK(cache.size() == 1);
  CHECK(cache.get("delete from t where a = 1", catalog).kind == statement_kind::write);
  CHECK(cache.get("select * from t where a = 1; delete from t", catalog).kind == statement_kind::write);
  // A text with a literal that equals another statement's key text is still told apart.
  CHECK(cache.get("select ''; delete from t", catalog).kind == statement_kind::write);
  CHECK(cache.get("select 'x'; delete from t", catalog).kind == statement_kind::write);
  CHECK(cache.get("select 'x'", catalog).kind == statement_kind::read_only);
  CHECK(cache.size() == 5);
  // Looked up by key first, a text finds the entry of its literal variants and of its key text.
  CHECK(cache.get("select * from t where a = 9", catalog, lookup_order::key_first).kind ==
        statement_kind::read_only);
  CHECK(cache.get("select * from t where a = 0", catalog, lookup_order::key_first).kind ==
        statement_kind::read_only);
  CHECK(cache.get("select 'y'; delete from t", catalog, lookup_order::key_first).kind == statement_kind::write);
  CHECK(cache.size() == 5);
}

TEST_CASE("statements for the log lose dollar-quoted bodies as well as literals") {
  using pgrelay::router::log_safe_statement;
  CHECK(log_safe_statement("ALTER ROLE app PASSWORD $$s3cret$$") == "ALTER ROLE app PASSWORD $$$$");
  CHECK(log_safe_statement("ALTER ROLE app PASSWORD $pw$it's $$ secret$pw$ VALID UNTIL 'x'") ==
        "ALTER ROLE app PASSWORD $pw$$pw$ VALID UNTIL ''");
  CHECK(log_safe_statement("SELECT $1, 'a', 42") == "SELECT $1, '', 0");
  CHECK(log_safe_statement("SELECT 'cut short inside a secr") == "SELECT '");
  // The key for classification keeps bodies: a DO block's body decides what it does.
  CHECK(pgrelay::router::literal_free_key("DO $$BEGIN PERFORM 1; END$$") == "DO $$BEGIN PERFORM 1; END$$");
}
