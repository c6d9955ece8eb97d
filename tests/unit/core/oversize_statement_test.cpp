// Statements too big to hold: each kind's way through, and a Bind whose head is rewritten while
// its parameters stream reaches the server byte for byte as the whole-frame rewrite would.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pgrelay/core/client_frames.hpp"
#include "pgrelay/core/oversize_statement.hpp"
#include "pgrelay/core/statement_rewriter.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/writer.hpp"

using namespace pgrelay::core;
namespace pr = pgrelay::protocol;

namespace {
std::string body_of(const std::string& msg) { return msg.substr(pr::frame_header_size); }

std::string bind_with(std::string_view statement, std::size_t value_size) {
  std::string out;
  std::string value(value_size, 'v');
  std::vector<std::string_view> params{value};
  pr::build::bind_text(out, "", statement, params);
  return out;
}
}  // namespace

TEST_CASE("oversize statements: queries and unnamed parses stream, named parses are refused") {
  CHECK(judge_oversize_statement('Q', "").action == oversize_action::stream);
  CHECK(judge_oversize_statement('Q', "select").action == oversize_action::stream);
  CHECK(judge_oversize_statement('P', "").action == oversize_action::need_more);
  CHECK(judge_oversize_statement('P', std::string_view("\0select", 7)).action == oversize_action::stream);
  CHECK(judge_oversize_statement('P', "s1").action == oversize_action::refuse);
  CHECK(judge_oversize_statement('D', "Ss1").action == oversize_action::refuse);
  CHECK(judge_oversize_statement('C', "Ss1").action == oversize_action::refuse);
}

TEST_CASE("oversize statements: a Bind waits for both names, then its head is rewritten") {
  auto body = body_of(bind_with("s1", 100));
  for (std::size_t cut = 0; cut < 4; ++cut) {  // "" portal, "s1": the head is 4 bytes
    CAPTURE(cut);
    CHECK(judge_oversize_statement('B', std::string_view(body).substr(0, cut)).action == oversize_action::need_more);
  }
  for (std::size_t cut = 4; cut <= body.size(); ++cut) {
    auto v = judge_oversize_statement('B', std::string_view(body).substr(0, cut));
    REQUIRE(v.action == oversize_action::rewrite_bind_head);
    CHECK(v.portal.empty());
    CHECK(v.statement == "s1");
    CHECK(v.head_size == 4);
  }
  // Names that never end within the bound are not waited for forever.
  std::string endless(bind_head_limit, 'n');
  CHECK(judge_oversize_statement('B', std::string_view(endless).substr(0, bind_head_limit - 1)).action ==
        oversize_action::need_more);
  CHECK(judge_oversize_statement('B', endless).action == oversize_action::refuse);
}

TEST_CASE("oversize statements: head rewrite plus streamed parameters equals the whole rewrite") {
  for (std::string_view name : {"s1", "", "pgrelay_7", "unknown"}) {
    CAPTURE(name);
    auto msg = bind_with(name, 1000);
    auto body = body_of(msg);

    auto run = [&](bool by_head) {
      statement_registry reg;
      server_statement_state server;
      client_statements client(reg);
      statement_rewriter rw(client, reg, server);
      std::string parse, out;
      pr::build::parse(parse, "s1", "select $1::text");
      REQUIRE(rw.on_frame('P', body_of(parse), out) == statement_rewriter::action::replaced);
      for (char t : std::string("1")) server.responses.on_server_frame(t);
      out.clear();
      if (by_head) {
        auto v = judge_oversize_statement('B', body);
        REQUIRE(v.action == oversize_action::rewrite_bind_head);
        auto rest = std::string_view(body).substr(v.head_size);
        if (!rw.on_bind_head(v.portal, v.statement, rest.size(), out)) out = msg.substr(0, pr::frame_header_size + v.head_size);
        out += rest;
      } else if (rw.on_frame('B', body, out) == statement_rewriter::action::forward_raw) {
        out = msg;
      }
      return std::pair{out, rw.take_bound()};
    };
    auto [whole, whole_bound] = run(false);
    auto [streamed, streamed_bound] = run(true);
    CHECK(streamed == whole);
    CHECK(streamed_bound == whole_bound);
    // Every frame's declared length matches what follows it.
    std::string_view rest(streamed);
    while (!rest.empty()) {
      auto r = pr::decode_frame(rest);
      REQUIRE(r.status == pr::decode_status::ok);
      rest.remove_prefix(r.msg.size());
    }
  }
}

TEST_CASE("oversize statements: after a rewritten head, the rest of the frame streams as its pieces") {
  client_frame_cursor cursor;
  request_tracker tracker;
  auto msg = bind_with("s1", 5000);
  std::string sync;
  pr::build::sync(sync);
  auto stream = msg + sync;
  const std::size_t head = pr::frame_header_size + 4;
  for (std::size_t chunk : {1u, 7u, 1000u, 100000u}) {
    CAPTURE(chunk);
    cursor.reset();
    cursor.continue_frame('B', msg.size(), head);
    CHECK(cursor.mid_forwarded_frame());
    std::size_t pos = head, pieces = 0;
    bool sync_whole = false;
    auto wanted = [](char t, std::size_t) { return t == 'S'; };
    while (!sync_whole) {
      REQUIRE(pos < stream.size());
      auto s = cursor.next(std::string_view(stream).substr(pos, chunk), tracker, wanted);
      if (s.scan.what == pr::scan_step::kind::need_more) s = cursor.next(std::string_view(stream).substr(pos), tracker, wanted);
      REQUIRE(s.scan.what != pr::scan_step::kind::need_more);
      if (s.scan.what == pr::scan_step::kind::piece) {
        CHECK(s.scan.tag == 'B');
        CHECK_FALSE(s.drop);
        ++pieces;
      } else {
        CHECK(s.scan.tag == 'S');
        CHECK(pos == msg.size());
        sync_whole = true;
      }
      pos += s.scan.advance;
      if (pos == msg.size()) CHECK_FALSE(cursor.mid_frame());
    }
    CHECK(pieces >= 1);
  }
}
