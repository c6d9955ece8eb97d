// Builders and views round-trip; malformed bodies are refused.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/writer.hpp"

using namespace pgrelay::protocol;

namespace {
frame only_frame(const std::string& s) {
  auto r = decode_frame(s);
  REQUIRE(r.status == decode_status::ok);
  REQUIRE(r.msg.size() == s.size());
  return r.msg;
}
}  // namespace

TEST_CASE("error response round-trips") {
  std::string s;
  build::error_response(s, severity::fatal, sqlstate::invalid_password, "password authentication failed",
                        "detail here");
  auto f = only_frame(s);
  CHECK(f.tag == 'E');
  error_fields e;
  REQUIRE(parse_error_fields(f.body, e));
  CHECK(e.severity == "FATAL");
  CHECK(e.code == "28P01");
  CHECK(e.message == "password authentication failed");
  CHECK(e.detail == "detail here");
  CHECK_FALSE(parse_error_fields(std::string_view("Cabc", 4), e));
}

TEST_CASE("ready for query, parameter status and key data") {
  std::string s;
  build::ready_for_query(s, transaction_status::in_transaction);
  char st = 0;
  REQUIRE(parse_ready_for_query(only_frame(s).body, st));
  CHECK(st == 'T');
  CHECK_FALSE(parse_ready_for_query("X", st));
  CHECK_FALSE(parse_ready_for_query("", st));

  s.clear();
  build::parameter_status(s, "TimeZone", "UTC");
  parameter_status_view ps;
  REQUIRE(parse_parameter_status(only_frame(s).body, ps));
  CHECK(ps.name == "TimeZone");
  CHECK(ps.value == "UTC");

  s.clear();
  build::backend_key_data(s, 42, std::string(32, 'k'));
  backend_key_data_view k;
  REQUIRE(parse_backend_key_data(only_frame(s).body, k));
  CHECK(k.pid == 42);
  CHECK(k.secret.size() == 32);
  CHECK_FALSE(parse_backend_key_data(std::string_view("\0\0\0\1ab", 6), k));
}

TEST_CASE("extended protocol views") {
  std::string s;
  build::parse(s, "stmt", "select $1::int", std::vector<std::int32_t>{23});
  parse_view p;
  REQUIRE(parse_parse(only_frame(s).body, p));
  CHECK(p.name == "stmt");
  CHECK(p.sql == "select $1::int");
  CHECK(p.param_type_count == 1);
  CHECK(p.param_types.size() == 4);

  s.clear();
  std::vector<std::string_view> params{"7"};
  build::bind_text(s, "", "stmt", params);
  bind_view b;
  REQUIRE(parse_bind(only_frame(s).body, b));
  CHECK(b.portal.empty());
  CHECK(b.statement == "stmt");

  s.clear();
  build::describe(s, 'S', "stmt");
  target_view t;
  REQUIRE(parse_describe_or_close(only_frame(s).body, t));
  CHECK(t.kind == 'S');
  CHECK(t.name == "stmt");
  CHECK_FALSE(parse_describe_or_close(std::string_view("Xa\0", 3), t));

  s.clear();
  build::execute(s, "", 10);
  execute_view e;
  REQUIRE(parse_execute(only_frame(s).body, e));
  CHECK(e.max_rows == 10);

  std::string_view neg("s\0x\0\xff\xff", 6);
  CHECK_FALSE(parse_parse(neg, p));
}

TEST_CASE("an unnamed Parse is told from its first byte") {
  std::string unnamed, named;
  build::parse(unnamed, "", "select 1");
  build::parse(named, "s1", "select 1");
  CHECK(parse_is_unnamed(only_frame(unnamed).body));
  CHECK_FALSE(parse_is_unnamed(only_frame(named).body));
  CHECK_FALSE(parse_is_unnamed({}));  // malformed: not unnamed, left to parse_parse to refuse
}

TEST_CASE("authentication and SASL messages") {
  std::string s;
  std::vector<std::string_view> mechs{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"};
  build::authentication_sasl(s, mechs);
  authentication_view a;
  REQUIRE(parse_authentication(only_frame(s).body, a));
  CHECK(a.code == 10);
  CHECK(sasl_mechanisms_contain(a.data, "SCRAM-SHA-256"));
  CHECK_FALSE(sasl_mechanisms_contain(a.data, "MD5"));

  s.clear();
  build::sasl_initial_response(s, "SCRAM-SHA-256", "n,,n=,r=abc");
  sasl_initial_view si;
  REQUIRE(parse_sasl_initial_response(only_frame(s).body, si));
  CHECK(si.mechanism == "SCRAM-SHA-256");
  CHECK(si.data == "n,,n=,r=abc");
  CHECK_FALSE(parse_sasl_initial_response(std::string_view("M\0\0\0\0\x09" "ab", 8), si));
  // -1 means "no initial response"; other negative lengths are malformed (fuzz_messages found
  // them accepted as empty data).
  CHECK(parse_sasl_initial_response(std::string_view("M\0\xff\xff\xff\xff", 6), si));
  CHECK(si.data.empty());
  CHECK_FALSE(parse_sasl_initial_response(std::string_view("\0\xfc\0\x77\xe9", 5), si));
  CHECK_FALSE(parse_sasl_initial_response(std::string_view("M\0\x80\0\0\0", 6), si));
}
