// Answers pgrelay injects or suppresses land exactly where the client expects them.
#include <catch2/catch.hpp>

#include <string>

#include "pgrelay/core/response_queue.hpp"

using namespace pgrelay::core;

namespace {
// Feeds server tags; returns what the client sees, with a synthesized CloseComplete as 'k' to
// tell it from a forwarded '3' (and anything else synthesized as '?').
std::string feed(response_queue& q, std::string_view tags) {
  std::string seen;
  auto mark = [&](const std::string& synth) {
    for (std::size_t i = 0; i < synth.size(); i += 5) seen.push_back(synth[i] == '3' ? 'k' : '?');
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

TEST_CASE("a Close of a shared statement is answered in place") {
  response_queue q;
  q.push(request_kind::synthetic_close_complete);
  q.push(request_kind::bind);
  q.push(request_kind::execute);
  q.push(request_kind::sync);
  CHECK(feed(q, "2DCZ") == "k2DCZ");
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
  q.push(request_kind::synthetic_close_complete);
  q.push(request_kind::describe_statement);
  q.push(request_kind::synthetic_close_complete);
  q.push(request_kind::sync);
  CHECK(feed(q, "1tTZ") == "1ktTkZ");
}

TEST_CASE("Flush with only a synthetic answer needs no server frame") {
  response_queue q;
  q.push(request_kind::synthetic_close_complete);
  std::string out;
  q.drain_ready(out);
  CHECK(out.size() == 5);
  CHECK(out[0] == '3');
  CHECK(q.empty());
}

TEST_CASE("after an error, answers up to Sync never come; failed injections are reported") {
  response_queue q;
  q.push(request_kind::injected_parse, 3);
  q.push(request_kind::bind);
  q.push(request_kind::synthetic_close_complete);
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

namespace {
// Every kind a queue may hold and every tag a server may send that the queue looks at, plus
// some it ignores.
constexpr request_kind all_kinds[] = {
    request_kind::parse,          request_kind::bind,           request_kind::describe_statement,
    request_kind::describe_portal, request_kind::execute,       request_kind::close,
    request_kind::sync,           request_kind::query,          request_kind::function_call,
    request_kind::injected_parse, request_kind::injected_bind,  request_kind::injected_close,
    request_kind::synthetic_close_complete};
constexpr std::string_view all_tags = "123tTnCIsEZNASDGHWdcfKRV";

bool is_default(const response_queue::verdict& v) {
  return v.forward && v.before.empty() && v.unprepared.empty() && v.errored == 0 && v.parsed == 0;
}

// Two queues that answer every later frame alike.
void require_same_future(response_queue a, response_queue b) {
  REQUIRE(a.size() == b.size());
  for (char t : std::string_view("t1T2nCs3EZ1ZZZ")) {
    const auto va = a.on_server_frame(t);
    const auto vb = b.on_server_frame(t);
    REQUIRE(va.forward == vb.forward);
    REQUIRE(va.before == vb.before);
    REQUIRE(va.unprepared == vb.unprepared);
    REQUIRE(va.errored == vb.errored);
    REQUIRE(va.parsed == vb.parsed);
  }
}
}  // namespace

TEST_CASE("a frame the queue passes changes nothing and needs no verdict") {
  // Every queue of up to three requests, every tag: where passes() says the call may be
  // skipped, making it gives the default verdict and leaves a queue that behaves the same.
  std::size_t passed = 0;
  std::size_t judged = 0;
  const std::size_t n = std::size(all_kinds);
  for (std::size_t length = 0; length <= 3; ++length) {
    std::size_t combos = 1;
    for (std::size_t i = 0; i < length; ++i) combos *= n;
    for (std::size_t c = 0; c < combos; ++c) {
      response_queue q;
      for (std::size_t i = 0, rest = c; i < length; ++i, rest /= n) q.push(all_kinds[rest % n], 7);
      for (char tag : all_tags) {
        if (!q.passes(tag)) {
          ++judged;
          continue;
        }
        ++passed;
        response_queue called = q;
        const auto v = called.on_server_frame(tag);
        INFO("queue length " << length << " combination " << c << " tag " << tag);
        REQUIRE(is_default(v));
        require_same_future(called, q);
      }
    }
  }
  CHECK(passed > 0);
  CHECK(judged > 0);
}

TEST_CASE("a simple Query's rows pass; its end, errors elsewhere and due answers do not") {
  response_queue q;
  CHECK(q.passes('D'));  // nothing pending: internal queries, or a confused stream
  q.push(request_kind::query);
  for (char t : std::string_view("TDCENSA")) CHECK(q.passes(t));
  CHECK_FALSE(q.passes('Z'));
  response_queue x;
  x.push(request_kind::execute, 3);
  CHECK(x.passes('D'));
  CHECK_FALSE(x.passes('C'));
  CHECK_FALSE(x.passes('E'));
  response_queue d;
  d.push(request_kind::describe_statement, 3);
  CHECK(d.passes('t'));  // the ParameterDescription; the 'T' or 'n' after it ends the Describe
  CHECK_FALSE(d.passes('n'));
  response_queue s;
  s.push(request_kind::synthetic_close_complete, 3);
  CHECK_FALSE(s.passes('D'));  // a due answer goes out before the next frame
  CHECK(s.passes('N'));
}

TEST_CASE("a pipeline that never lets the queue empty keeps its answers in order") {
  // Each round sends a Bind and an Execute (one of them injected) and reads the answers to the
  // previous round only, so the queue is never empty and its answered head must be cut off.
  response_queue q;
  std::string seen;
  std::string expected;
  q.push(request_kind::bind);
  for (int round = 0; round < 500; ++round) {
    q.push(request_kind::execute);
    q.push(round % 3 == 0 ? request_kind::injected_bind : request_kind::bind);
    const bool head_injected = round > 0 && (round - 1) % 3 == 0;  // the Bind sent a round before
    expected += head_injected ? "C" : "2C";
    seen += feed(q, "2C");
    REQUIRE(q.size() == 1);
  }
  // The last round's Bind alone is left; then a Sync ends the pipeline.
  CHECK(seen == expected);
  q.push(request_kind::sync);
  CHECK(feed(q, "2Z") == "2Z");
  CHECK(q.empty());
}
