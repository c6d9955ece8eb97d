// Sharing of named statements between clients and the per-server LRU.
#include <catch2/catch.hpp>

#include "pgrelay/core/prepared_statements.hpp"

using namespace pgrelay::core;

TEST_CASE("identical statements share an id; different types do not") {
  statement_registry reg;
  client_statements a(reg), b(reg);
  const std::string_view int4_param("\x00\x01\x00\x00\x00\x17", 6);
  auto ia = a.define("s1", "select $1", int4_param);
  auto ib = b.define("other", "select $1", int4_param);
  CHECK(ia == ib);
  auto ic = b.define("typed", "select $1", "");
  CHECK(ic != ia);
  CHECK(reg.size() == 2);
  CHECK(reg.find(ia)->refs == 2);
  CHECK(server_statement_name(ia) == "pgrelay_" + std::to_string(ia));
}

TEST_CASE("entries live while some client refers to them, and ids are never reused") {
  statement_registry reg;
  statement_id first = 0;
  {
    client_statements a(reg);
    first = a.define("s", "select 1", "");
    CHECK(a.find("s") == first);
    CHECK(a.forget("s"));
    CHECK_FALSE(a.forget("s"));
    CHECK(reg.size() == 0);
    a.define("s", "select 1", "");
  }
  CHECK(reg.size() == 0);  // the destructor released it
  client_statements c(reg);
  CHECK(c.define("s", "select 1", "") != first);
}

TEST_CASE("a client that never named a statement answers as empty, and clear starts afresh") {
  statement_registry reg;
  client_statements a(reg);
  CHECK(a.size() == 0);
  CHECK_FALSE(a.find("s"));
  CHECK_FALSE(a.lookup("s"));
  CHECK_FALSE(a.forget("s"));
  a.clear();
  auto id = a.define("s", "select 1", "");
  CHECK(a.size() == 1);
  a.clear();  // DISCARD ALL, DEALLOCATE ALL
  CHECK(a.size() == 0);
  CHECK_FALSE(a.find("s"));
  CHECK(reg.size() == 0);
  CHECK(a.define("s", "select 1", "") != id);
  CHECK(a.find("s"));
}

TEST_CASE("redefining a name moves the reference") {
  statement_registry reg;
  client_statements a(reg);
  auto one = a.define("s", "select 1", "");
  auto two = a.define("s", "select 2", "");
  CHECK(one != two);
  CHECK(reg.find(one) == nullptr);
  CHECK(reg.find(two)->refs == 1);
}

TEST_CASE("server statements evict the least recently used") {
  server_statements s(2);
  CHECK_FALSE(s.add(1));
  CHECK_FALSE(s.add(2));
  s.touch(1);
  auto evicted = s.add(3);
  REQUIRE(evicted);
  CHECK(*evicted == 2);
  CHECK(s.contains(1));
  CHECK(s.contains(3));
  CHECK_FALSE(s.contains(2));
  CHECK_FALSE(s.add(3));  // already there
  s.remove(1);
  CHECK(s.size() == 1);
}

TEST_CASE("a statement is validated once a server accepted it") {
  statement_registry reg;
  client_statements a(reg);
  auto id = a.define("s", "select 1", "");
  CHECK_FALSE(reg.is_validated("select 1", ""));
  reg.mark_validated(id);
  CHECK(reg.is_validated("select 1", ""));
  CHECK_FALSE(reg.is_validated("select 2", ""));
}
