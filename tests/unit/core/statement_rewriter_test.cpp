// Two clients sharing one server: names are rewritten, and each client's Parse is prepared as of
// its own time.
#include <catch2/catch.hpp>

#include <string>

#include "pgrelay/core/statement_rewriter.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/writer.hpp"

using namespace pgrelay::core;
namespace pr = pgrelay::protocol;

namespace {
std::string body_of(const std::string& msg) { return msg.substr(5); }

// Tags of the messages in `bytes`, with statement names of Parse/Bind appended after ':'.
std::string describe_stream(const std::string& bytes) {
  std::string out;
  std::string_view rest(bytes);
  while (!rest.empty()) {
    auto r = pr::decode_frame(rest);
    REQUIRE(r.status == pr::decode_status::ok);
    out.push_back(r.msg.tag);
    if (r.msg.tag == 'P') {
      pr::parse_view p;
      REQUIRE(pr::parse_parse(r.msg.body, p));
      out += ":" + std::string(p.name);
    } else if (r.msg.tag == 'B') {
      pr::bind_view b;
      REQUIRE(pr::parse_bind(r.msg.body, b));
      out += ":" + std::string(b.statement);
    }
    out.push_back(' ');
    rest.remove_prefix(r.msg.size());
  }
  return out;
}
}  // namespace

TEST_CASE("named statements are shared across clients on one server") {
  statement_registry reg;
  server_statement_state server;
  client_statements a(reg), b(reg);
  std::string parse_msg, bind_msg, close_msg, out;
  pr::build::parse(parse_msg, "s1", "select 1");
  std::vector<std::string_view> none;
  pr::build::bind_text(bind_msg, "", "s1", none);
  pr::build::close(close_msg, 'S', "s1");

  statement_rewriter ra(a, reg, server);
  CHECK(ra.on_frame('P', body_of(parse_msg), out) == statement_rewriter::action::replaced);
  CHECK(ra.on_frame('B', body_of(bind_msg), out) == statement_rewriter::action::replaced);
  CHECK(describe_stream(out) == "P:pgrelay_1 B:pgrelay_1 ");
  ra.on_streamed_frame('E');
  ra.on_streamed_frame('S');

  // The server answers client A; nothing is dropped or added.
  for (char t : std::string("12CZ")) CHECK(server.responses.on_server_frame(t).forward);
  CHECK(server.responses.empty());

  // Client B parses the same text under another name. A Parse behaves as if parsed now (a DDL
  // may have come between): the shared statement is prepared afresh under the same name, and
  // B's Bind then uses that copy as it is.
  out.clear();
  std::string parse_b, bind_b;
  pr::build::parse(parse_b, "mine", "select 1");
  pr::build::bind_text(bind_b, "", "mine", none);
  statement_rewriter rb(b, reg, server);
  CHECK(rb.on_frame('P', body_of(parse_b), out) == statement_rewriter::action::replaced);
  CHECK(rb.on_frame('B', body_of(bind_b), out) == statement_rewriter::action::replaced);
  CHECK(describe_stream(out) == "C P:pgrelay_1 B:pgrelay_1 ");
  // Client A's Bind after B's Parse: the copy is newer than A's Parse, so it is used as it is.
  out.clear();
  CHECK(ra.on_frame('B', body_of(bind_msg), out) == statement_rewriter::action::replaced);
  CHECK(describe_stream(out) == "B:pgrelay_1 ");
  CHECK(rb.on_frame('C', body_of(close_msg), out) == statement_rewriter::action::forward_raw);  // B has no "s1"
}

TEST_CASE("a client's statement follows it to a server that lacks it") {
  statement_registry reg;
  server_statement_state first, second;
  client_statements a(reg);
  std::string parse_msg, bind_msg, out;
  pr::build::parse(parse_msg, "s1", "select 2");
  std::vector<std::string_view> none;
  pr::build::bind_text(bind_msg, "p", "s1", none);
  statement_rewriter(a, reg, first).on_frame('P', body_of(parse_msg), out);

  out.clear();
  statement_rewriter r2(a, reg, second);
  CHECK(r2.on_frame('B', body_of(bind_msg), out) == statement_rewriter::action::replaced);
  CHECK(describe_stream(out) == "P:pgrelay_1 B:pgrelay_1 ");
  // The injected Parse's ParseComplete is swallowed; the Bind's BindComplete is the client's.
  CHECK_FALSE(second.responses.on_server_frame('1').forward);
  CHECK(second.responses.on_server_frame('2').forward);
}

TEST_CASE("a stale plan is closed and prepared again") {
  statement_registry reg;
  server_statement_state server;
  client_statements a(reg);
  std::string parse_msg, bind_msg, out;
  pr::build::parse(parse_msg, "s1", "select * from t");
  std::vector<std::string_view> none;
  pr::build::bind_text(bind_msg, "", "s1", none);
  statement_rewriter r(a, reg, server);
  r.on_frame('P', body_of(parse_msg), out);
  auto id = *a.find("s1");
  reg.invalidate(id);
  out.clear();
  r.on_frame('B', body_of(bind_msg), out);
  CHECK(describe_stream(out) == "C P:pgrelay_1 B:pgrelay_1 ");
}

TEST_CASE("a copy prepared before a client's Parse is prepared again before that client uses it") {
  statement_registry reg;
  server_statement_state old_server, fresh_server;
  client_statements a(reg), b(reg);
  std::string parse_a, parse_b, bind_b, out;
  pr::build::parse(parse_a, "a", "select $1");
  pr::build::parse(parse_b, "b", "select $1");
  std::vector<std::string_view> one{"1"};
  pr::build::bind_text(bind_b, "", "b", one);
  // A prepares it on the old server, B parses it later on the fresh one.
  statement_rewriter(a, reg, old_server).on_frame('P', body_of(parse_a), out);
  out.clear();
  statement_rewriter(b, reg, fresh_server).on_frame('P', body_of(parse_b), out);
  CHECK(describe_stream(out) == "P:pgrelay_1 ");
  // B's Bind lands on the old server: its copy predates B's Parse.
  out.clear();
  statement_rewriter(b, reg, old_server).on_frame('B', body_of(bind_b), out);
  CHECK(describe_stream(out) == "C P:pgrelay_1 B:pgrelay_1 ");
  // Now current there: the next Bind goes straight through.
  out.clear();
  statement_rewriter(b, reg, old_server).on_frame('B', body_of(bind_b), out);
  CHECK(describe_stream(out) == "B:pgrelay_1 ");
}

TEST_CASE("names of pgrelay's shared statements reach none of them unless the client defined them") {
  statement_registry reg;
  server_statement_state server;
  client_statements owner(reg), other(reg);
  std::string parse_msg, out;
  pr::build::parse(parse_msg, "s1", "select 1");
  statement_rewriter(owner, reg, server).on_frame('P', body_of(parse_msg), out);
  REQUIRE(server.prepared.contains(1));
  server.responses.clear();

  statement_rewriter r(other, reg, server);
  std::vector<std::string_view> none;
  std::string bind_msg, describe_msg, close_msg;
  pr::build::bind_text(bind_msg, "", "pgrelay_1", none);
  pr::build::describe(describe_msg, 'S', "pgrelay_1");
  pr::build::close(close_msg, 'S', "pgrelay_1");
  out.clear();
  CHECK(r.on_frame('B', body_of(bind_msg), out) == statement_rewriter::action::replaced);
  CHECK(r.on_frame('D', body_of(describe_msg), out) == statement_rewriter::action::replaced);
  CHECK(describe_stream(out) == "B:pgrelay_pgrelay_1 D ");
  // Closing it is answered by pgrelay, as Postgres answers a Close of a name it does not have.
  out.clear();
  CHECK(r.on_frame('C', body_of(close_msg), out) == statement_rewriter::action::swallowed);
  CHECK(out.empty());
  CHECK(server.prepared.contains(1));
  // A client's own names are its own, whatever they look like.
  std::string own_parse, own_bind;
  pr::build::parse(own_parse, "pgrelay_1", "select 2");
  pr::build::bind_text(own_bind, "", "pgrelay_1", none);
  out.clear();
  r.on_frame('P', body_of(own_parse), out);
  r.on_frame('B', body_of(own_bind), out);
  CHECK(describe_stream(out) == "P:pgrelay_2 B:pgrelay_2 ");
}

TEST_CASE("an unnamed or malformed Parse goes through as it came, its answer expected") {
  statement_registry reg;
  server_statement_state server;
  client_statements a(reg);
  statement_rewriter r(a, reg, server);
  std::string unnamed, out;
  pr::build::parse(unnamed, "", "select 1");
  CHECK(r.on_frame('P', body_of(unnamed), out) == statement_rewriter::action::forward_raw);
  CHECK(out.empty());
  CHECK(server.responses.size() == 1);
  // A name without its terminator: not defined, left for the server to reject.
  CHECK(r.on_frame('P', std::string_view("s1"), out) == statement_rewriter::action::forward_raw);
  CHECK(r.on_frame('P', std::string_view(), out) == statement_rewriter::action::forward_raw);
  CHECK(out.empty());
  CHECK(server.responses.size() == 3);
  CHECK_FALSE(a.lookup("s1"));
  // The server's ParseCompletes reach the client.
  for (char t : std::string("111")) CHECK(server.responses.on_server_frame(t).forward);
  CHECK(server.responses.empty());
}
