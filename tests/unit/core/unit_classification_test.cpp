// A request unit goes to a replica only when every statement in it is known to read: these
// cases feed whole units as the client sends them, including a Bind of a statement prepared in
// an earlier unit, a FunctionCall, and a statement cut off at the end of the bytes.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>

#include "pgrelay/core/unit_classification.hpp"
#include "pgrelay/protocol/writer.hpp"

using pgrelay::core::classify_unit;
using pgrelay::router::statement_kind;
namespace build = pgrelay::protocol::build;

namespace {

struct client {
  std::map<std::string, std::string, std::less<>> prepared;
  pgrelay::router::classification run(std::string_view bytes) const {
    auto lookup = [this](std::string_view name) -> std::optional<std::string_view> {
      auto it = prepared.find(name);
      if (it == prepared.end()) return std::nullopt;
      return std::string_view{it->second};
    };
    return classify_unit(bytes, lookup, [](std::string_view sql, bool) { return pgrelay::router::classify(sql); });
  }
};

std::string extended(std::string_view name, std::string_view sql) {
  std::string out;
  if (!sql.empty()) build::parse(out, name, sql);
  build::bind_text(out, "", name, {});
  build::execute(out, "");
  build::sync(out);
  return out;
}

}  // namespace

TEST_CASE("unit: one simple read is a read; a write among reads makes the unit a write", "[core][unit]") {
  client c;
  std::string q;
  build::query(q, "SELECT 1");
  CHECK(c.run(q).kind == statement_kind::read_only);
  std::string mixed;
  build::parse(mixed, "", "SELECT 1");
  build::bind_text(mixed, "", "", {});
  build::execute(mixed, "");
  build::parse(mixed, "", "INSERT INTO t VALUES (1)");
  build::bind_text(mixed, "", "", {});
  build::execute(mixed, "");
  build::sync(mixed);
  CHECK(c.run(mixed).kind == statement_kind::write);
}

TEST_CASE("unit: a Bind of a statement prepared earlier is judged by its text", "[core][unit]") {
  client c;
  c.prepared["s_read"] = "SELECT * FROM t";
  c.prepared["s_write"] = "UPDATE t SET a = 1";
  CHECK(c.run(extended("s_read", "")).kind == statement_kind::read_only);
  CHECK(c.run(extended("s_write", "")).kind == statement_kind::write);
  // Not known here (prepared on another path, or never): the primary.
  CHECK(c.run(extended("s_unknown", "")).kind == statement_kind::write);
}

TEST_CASE("unit: the unnamed statement counts when parsed in the unit, else it is unknown", "[core][unit]") {
  client c;
  CHECK(c.run(extended("", "SELECT 1")).kind == statement_kind::read_only);
  CHECK(c.run(extended("", "")).kind == statement_kind::write);
}

TEST_CASE("unit: a FunctionCall and a unit with no statement go to the primary", "[core][unit]") {
  client c;
  std::string f;
  f.push_back('F');
  f.append("\0\0\0\x0a\0\0\x04\x01\0\0", 10);  // function OID 1025, no arguments (length-only check)
  CHECK(c.run(f).kind == statement_kind::write);
  std::string sync_only;
  build::sync(sync_only);
  CHECK(c.run(sync_only).kind == statement_kind::write);
}

TEST_CASE("unit: a statement cut at any byte is unknown; a cut non-statement adds nothing", "[core][unit]") {
  client c;
  std::string q;
  build::query(q, "SELECT 1");
  for (std::size_t cut = 1; cut < q.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK(c.run(std::string_view{q}.substr(0, cut)).kind == statement_kind::write);
  }
  std::string read_then_sync;
  build::query(read_then_sync, "SELECT 1");
  std::string s;
  build::sync(s);
  read_then_sync += s.substr(0, 2);
  CHECK(c.run(read_then_sync).kind == statement_kind::read_only);
}

TEST_CASE("unit: the first statement's BEGIN and hint stand for the unit", "[core][unit]") {
  client c;
  std::string q;
  build::query(q, "BEGIN READ ONLY");
  std::string q2;
  build::query(q2, "/* pgrelay: route=analytics */ SELECT 2");
  auto u = c.run(q + q2);
  CHECK(u.begin);
  CHECK(u.begin_read_only);
  CHECK(u.hint.empty());
  auto v = c.run(q2 + q);
  CHECK(v.hint == "analytics");
  // A later read-write BEGIN spoils READ ONLY.
  std::string rw;
  build::query(rw, "BEGIN");
  CHECK_FALSE(c.run(q + rw).begin_read_only);
}
