// Answers pgrelay injects or suppresses land exactly where the client expects them.
#include <catch2/catch.hpp>

#include <string>

#include "pgrelay/core/response_queue.hpp"

using namespace pgrelay::core;

namespace {
// Feeds server tags; returns what the client sees, with synthesized ParseComplete as 'p' and
// CloseComplete as 'k' to tell them from forwarded ones.
std::string feed(response_queue& q, std::string_view tags) {
  std::string seen;
  auto mark = [&](const std::string& synth) {
    for (std::size_t i = 0; i < synth.size(); i += 5) seen.push_back(synth[i] == '1' ? 'p' : 'k');
  };
  for (char t : tags) {
    auto v = q.on_server_frame(t);
    mark(v.before);
    if (v.forward) seen.push_back(t);
  }
  std::string tail;
  q.drain_ready(tail);
  mark(tail);
  return seen;
}
}  // namespace

TEST_CASE("a Parse the server already has is answered in place") {
  response_queue q;
  q.push(request_kind::synthetic_parse_complete);
  q.push(request_kind::bind);
  q.push(request_kind::execute);
  q.push(request_kind::sync);
  CHECK(feed(q, "2DCZ") == "p2DCZ");
  CHECK(q.empty());
}

TEST_CASE("an injected Parse's ParseComplete is not the client's") {
  response_queue q;
  q.push(request_kind::injected_parse, 7);
  q.push(request_kind::bind);
  q.push(request_kind::execute);
  q.push(request_kind::sync);
  CHECK(feed(q, "12CZ") == "2CZ");
}

TEST_CASE("synthetic answers between real ones keep their order") {
  response_queue q;
  q.push(request_kind::parse);
  q.push(request_kind::synthetic_parse_complete);
  q.push(request_kind::describe_statement);
  q.push(request_kind::synthetic_close_complete);
  q.push(request_kind::sync);
  CHECK(feed(q, "1tTZ") == "1ptTkZ");
}

TEST_CASE("Flush with only a synthetic answer needs no server frame") {
  response_queue q;
  q.push(request_kind::synthetic_parse_complete);
  std::string out;
  q.drain_ready(out);
  CHECK(out.size() == 5);
  CHECK(out[0] == '1');
  CHECK(q.empty());
}

TEST_CASE("after an error, answers up to Sync never come; failed injections are reported") {
  response_queue q;
  q.push(request_kind::injected_parse, 3);
  q.push(request_kind::bind);
  q.push(request_kind::synthetic_parse_complete);
  q.push(request_kind::execute);
  q.push(request_kind::sync);
  auto v = q.on_server_frame('E');
  CHECK(v.forward);
  REQUIRE(v.unprepared.size() == 1);
  CHECK(v.unprepared[0] == 3);
  CHECK(feed(q, "Z") == "Z");
  CHECK(q.empty());
}

TEST_CASE("simple queries end at their ReadyForQuery, errors included") {
  response_queue q;
  q.push(request_kind::query);
  q.push(request_kind::synthetic_close_complete);
  CHECK(feed(q, "TDCENZ") == "TDCENZk");
}

TEST_CASE("an injected Close is swallowed") {
  response_queue q;
  q.push(request_kind::injected_close, 9);
  q.push(request_kind::injected_parse, 10);
  q.push(request_kind::bind);
  q.push(request_kind::sync);
  CHECK(feed(q, "312Z") == "2Z");
}

TEST_CASE("an accepted shared Parse is reported") {
  response_queue q;
  q.push(request_kind::injected_parse, 4);
  q.push(request_kind::sync);
  auto v = q.on_server_frame('1');
  CHECK(v.parsed == 4);
  CHECK_FALSE(v.forward);
}
