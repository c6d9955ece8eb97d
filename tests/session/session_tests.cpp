// Session level: the real listener, client_session, pool and server_connection between a
// scripted fake client and a scripted fake Postgres, with faults injected at each step.
#include <catch2/catch.hpp>

#include "fakes.hpp"
#include "pgrelay/protocol/md5.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/scram.hpp"
#include "pgrelay/protocol/writer.hpp"

using namespace pgrelay::session_test;
namespace pr = pgrelay::protocol;

namespace {

std::string authentication_ok() {
  std::string out;
  pr::build::authentication_ok(out);
  return out;
}

std::string authentication_request(std::int32_t code, std::string_view data = {}) {
  std::string out;
  pr::message_writer(out).begin('R').i32(code).bytes(data).end();
  return out;
}

// The pgrelay-made error a client gets when its server connection is lost or cannot be made.
void require_one_error_then_eof(const transcript& t, std::string_view code) {
  CAPTURE(t.tags());
  REQUIRE(t.count('E') == 1);
  REQUIRE(t.messages.back().tag == 'E');
  CHECK(sqlstate_of(t.messages.back()) == code);
  CHECK(t.eof);
  CHECK(t.leftover.empty());
  CHECK(t.count('Z') == 0);
}

// Login, one query, and its answer up to ReadyForQuery or EOF.
struct query_run {
  transcript login;
  transcript reply;
};

std::function<awaitable<void>()> login_and_query(harness& h, query_run& out, std::string sql) {
  return [&h, &out, sql]() -> awaitable<void> {
    fake_client c(h.executor());
    bool connected = co_await c.connect(h.listen_path);
    if (!connected) co_return;
    out.login = co_await c.login();
    if (out.login.eof) co_return;
    co_await c.send(query(sql));
    out.reply = co_await c.read_until_ready();  // or EOF
  };
}

}  // namespace

TEST_CASE("happy path: login, then select 1 relayed byte for byte", "[session]") {
  harness h(standard_server());
  query_run r;
  transcript reply;
  REQUIRE(h.run([&]() -> awaitable<void> {
    fake_client c(h.executor());
    expect(co_await c.connect(h.listen_path), "connect to pgrelay");
    r.login = co_await c.login();
    co_await c.send(query("select 1"));
    reply = co_await c.read_until_ready();
  }) == "done");

  CAPTURE(r.login.tags());
  REQUIRE_FALSE(r.login.eof);
  REQUIRE(r.login.messages.front().tag == 'R');
  REQUIRE(r.login.messages.back().tag == 'Z');
  std::map<std::string, std::string> params;
  for (const auto& m : r.login.messages) {
    pr::parameter_status_view ps;
    if (m.tag == 'S' && pr::parse_parameter_status(m.body, ps)) params.emplace(ps.name, ps.value);
  }
  CHECK(params == welcome_parameters);
  REQUIRE(r.login.count('K') == 1);
  pr::backend_key_data_view key;
  REQUIRE(pr::parse_backend_key_data(r.login.first('K')->body, key));
  CHECK(key.pid > 0);

  CHECK(reply.bytes() == select_one());
  CHECK_FALSE(reply.eof);
  CHECK(h.server().sessions() == 1);
  CHECK(h.server().startups().at(0).at("user") == "app");
  CHECK(h.server().startups().at(0).at("database") == "app");
}

TEST_CASE("server login fails at each step: the client gets one error, then EOF", "[session]") {
  struct fault {
    const char* name;
    std::string sent;             // what the fake writes after the startup packet
    bool read_password = false;   // then waits for the client's password message
    std::string after_password;   // and writes this; then it closes
    std::string code = "08006";
    std::string text;  // the expected error text, when the error is the server's own
  };
  std::string params;
  for (const auto& [name, value] : welcome_parameters) pr::build::parameter_status(params, name, value);
  std::string key;
  pr::build::backend_key_data(key, 77, "abcd");
  std::string bad_frame = "S";
  bad_frame += std::string("\0\0\0\2", 4);
  const std::string auth_failed = "password authentication failed for user \"app\"";

  const std::vector<fault> faults = {
      {"EOF right after the startup packet", ""},
      {"EOF after a cleartext password request", authentication_request(3)},
      {"EOF after reading the password", authentication_request(3), true},
      {"EOF after an MD5 password request", authentication_request(5, "salt")},
      {"EOF after AuthenticationOk", authentication_ok()},
      {"EOF after ParameterStatus", authentication_ok() + params},
      {"EOF after BackendKeyData, before ReadyForQuery", authentication_ok() + params + key},
      {"EOF in the middle of a frame", authentication_ok() + params.substr(0, 7)},
      {"a frame with an invalid length", authentication_ok() + bad_frame},
      {"FATAL 28P01 instead of authenticating", error("FATAL", "28P01", auth_failed), false, "", "28P01", auth_failed},
      {"FATAL 28P01 after the password", authentication_request(3), true, error("FATAL", "28P01", auth_failed), "28P01",
       auth_failed},
      {"FATAL 57P03 after AuthenticationOk",
       authentication_ok() + error("FATAL", "57P03", "the database system is starting up"), false, "", "57P03",
       "the database system is starting up"},
  };

  for (const auto& f : faults) {
    DYNAMIC_SECTION(f.name) {
      auto script = [f](wire& w, int) -> awaitable<void> {
        if (!f.sent.empty()) co_await w.write(f.sent);
        if (!f.read_password) co_return;
        auto password = co_await w.read();
        if (password && !f.after_password.empty()) co_await w.write(f.after_password);
      };
      harness h(script, {.server_password = "s3cret"});
      query_run r;
      REQUIRE(h.run(login_and_query(h, r, "select 1")) == "done");
      CAPTURE(r.login.tags());
      // Trust auth answered AuthenticationOk before the server was tried.
      REQUIRE(r.login.tags() == "RE");
      require_one_error_then_eof(r.login, f.code);
      if (!f.text.empty()) CHECK(text_of(r.login.messages.back()) == f.text);
    }
  }
}

TEST_CASE("server dies mid-response: RowDescription, then exactly one error, then EOF", "[session]") {
  // A connection that logs in, answers the first query with `answer`, then closes.
  auto dies_after = [](std::string answer) -> server_script {
    return [answer](wire& w, int conn) -> awaitable<void> {
      bool logged_in = co_await accept_login(w, conn);
      if (!logged_in) co_return;
      for (;;) {
        auto m = co_await w.read();
        if (!m) co_return;
        if (m->tag == 'Q') break;
      }
      co_await w.write(answer);
    };
  };

  SECTION("EOF after RowDescription: pgrelay reports 08006 once") {
    harness h(dies_after(row_description("a")));
    query_run r;
    REQUIRE(h.run(login_and_query(h, r, "select 1")) == "done");
    CAPTURE(r.reply.tags());
    REQUIRE(r.reply.tags() == "TE");
    CHECK(r.reply.messages[0].body == row_description("a").substr(5));
    require_one_error_then_eof(r.reply, "08006");
  }
  SECTION("FATAL 57P01 then EOF: the client sees the server's error once, none from pgrelay") {
    harness h(dies_after(row_description("a") +
                         error("FATAL", "57P01", "terminating connection due to administrator command")));
    query_run r;
    REQUIRE(h.run(login_and_query(h, r, "select 1")) == "done");
    CAPTURE(r.reply.tags());
    REQUIRE(r.reply.tags() == "TE");
    require_one_error_then_eof(r.reply, "57P01");
    CHECK(text_of(r.reply.messages.back()) == "terminating connection due to administrator command");
  }
  SECTION("a frame with an invalid length: nothing of it is relayed, then 08006") {
    std::string bad = "D";
    bad += std::string("\0\0\0\2", 4);
    harness h(dies_after(row_description("a") + bad));
    query_run r;
    REQUIRE(h.run(login_and_query(h, r, "select 1")) == "done");
    // Whole frames before the bad one may or may not be relayed; none of its bytes may be.
    require_one_error_then_eof(r.reply, "08006");
  }
  SECTION("EOF inside a DataRow: the forwarded part is not followed by bytes pgrelay made up") {
    std::string row = data_row(std::string(1000, 'x'));
    std::string half = row.substr(0, 500);
    harness h(dies_after(row_description("a") + half));
    query_run r;
    REQUIRE(h.run(login_and_query(h, r, "select 1")) == "done");
    CAPTURE(r.reply.tags());
    REQUIRE(r.reply.tags() == "T");
    CHECK(r.reply.eof);
    // The client can only see a truncated frame then EOF; an ErrorResponse appended here would
    // be read as row data.
    REQUIRE(r.reply.leftover.starts_with(half));
    CHECK(r.reply.leftover.size() == half.size());
  }
}

TEST_CASE("transaction pooling: two clients share one server connection", "[session]") {
  // Each answer names the fake connection that produced it.
  auto by_connection = [](std::string_view, int conn) {
    return row_description("conn") + data_row(std::to_string(conn)) + command_complete("SELECT 1") + ready();
  };
  harness h(standard_server(by_connection), {.pool_size = 1});
  transcript a_reply, b_reply;
  bool a_ok = false, b_ok = false;
  REQUIRE(h.run([&]() -> awaitable<void> {
    fake_client a(h.executor()), b(h.executor());
    expect(co_await a.connect(h.listen_path), "connect to pgrelay");
    expect(co_await b.connect(h.listen_path), "connect to pgrelay");
    a_ok = !(co_await a.login()).eof;
    b_ok = !(co_await b.login()).eof;
    co_await a.send(query("select conn"));
    a_reply = co_await a.read_until_ready();
    co_await b.send(query("select conn"));
    b_reply = co_await b.read_until_ready();
  }) == "done");
  REQUIRE(a_ok);
  REQUIRE(b_ok);
  REQUIRE(a_reply.tags() == "TDCZ");
  REQUIRE(b_reply.tags() == "TDCZ");
  CHECK(a_reply.messages[1].body == data_row("1").substr(5));
  CHECK(b_reply.messages[1].body == data_row("1").substr(5));
  CHECK(h.server().sessions() == 1);
}

TEST_CASE("a client that leaves inside a transaction: pgrelay rolls back and reuses the server", "[session]") {
  std::vector<std::string> seen;
  auto recording = [&seen](std::string_view sql, int conn) {
    seen.emplace_back(sql);
    return default_answer(sql, conn);
  };
  harness h(standard_server(recording), {.pool_size = 1});
  transcript begun, b_reply;
  REQUIRE(h.run([&]() -> awaitable<void> {
    {
      fake_client a(h.executor());
      expect(co_await a.connect(h.listen_path), "connect to pgrelay");
      expect(!(co_await a.login()).eof, "login");
      co_await a.send(query("begin"));
      begun = co_await a.read_until_ready();
    }  // a closes here, inside the transaction
    fake_client b(h.executor());
    expect(co_await b.connect(h.listen_path), "connect to pgrelay");
    expect(!(co_await b.login()).eof, "login");
    co_await b.send(query("select 1"));
    b_reply = co_await b.read_until_ready();
  }) == "done");
  CHECK(begun.ready_status() == 'T');
  CHECK(b_reply.bytes() == select_one());
  CHECK(seen == std::vector<std::string>{"begin", "ROLLBACK", "select 1"});
  CHECK(h.server().sessions() == 1);
}

TEST_CASE("Flush without Sync: the partial answer reaches the client, then Sync completes it", "[session]") {
  std::string received;  // tags the fake got after login
  auto script = [&received](wire& w, int conn) -> awaitable<void> {
    bool logged_in = co_await accept_login(w, conn);
    if (!logged_in) co_return;
    for (;;) {
      auto m = co_await w.read();
      if (!m || m->tag == 'X') co_return;
      received.push_back(m->tag);
      if (m->tag == 'H') {
        std::string out;
        pr::build::parse_complete(out);
        pr::message_writer(out).begin('t').i16(1).i32(23).end();  // ParameterDescription
        out += row_description("int4");
        co_await w.write(out);
      } else if (m->tag == 'S') {
        co_await w.write(ready());
      }
    }
  };
  harness h(script);
  transcript described, synced;
  REQUIRE(h.run([&]() -> awaitable<void> {
    fake_client c(h.executor());
    expect(co_await c.connect(h.listen_path), "connect to pgrelay");
    expect(!(co_await c.login()).eof, "login");
    std::string out;
    std::int32_t types[] = {23};
    pr::build::parse(out, "s1", "select $1::int4", types);
    pr::build::describe(out, 'S', "s1");
    pr::build::flush(out);
    co_await c.send(out);
    described = co_await c.read_until('T');
    out.clear();
    pr::build::sync(out);
    co_await c.send(out);
    synced = co_await c.read_until_ready();
  }) == "done");
  CHECK(described.tags() == "1tT");
  CHECK(synced.tags() == "Z");
  CHECK(received == "PDHS");
}

TEST_CASE("protocol violations from the client get 08P01 and a closed connection", "[session]") {
  struct bad_input {
    const char* name;
    std::string bytes;
  };
  std::string unknown;
  pr::message_writer(unknown).begin('x').end();
  std::string oversized = "Q";
  oversized += std::string("\x7f\xff\xff\xff", 4);
  std::string undersized = "Q";
  undersized += std::string("\0\0\0\2", 4);
  const std::vector<bad_input> inputs = {
      {"unknown message type 'x'", unknown},
      {"a length above 1 GB", oversized},
      {"a length below 4", undersized},
  };
  for (const auto& in : inputs) {
    DYNAMIC_SECTION(in.name << " while idle") {
      harness h(standard_server());
      transcript reply;
      REQUIRE(h.run([&]() -> awaitable<void> {
        fake_client c(h.executor());
        expect(co_await c.connect(h.listen_path), "connect to pgrelay");
        expect(!(co_await c.login()).eof, "login");
        co_await c.send(in.bytes);
        reply = co_await c.read_until_eof();
      }) == "done");
      CAPTURE(reply.tags());
      REQUIRE(reply.tags() == "E");
      require_one_error_then_eof(reply, "08P01");
    }
    DYNAMIC_SECTION(in.name << " inside a transaction") {
      harness h(standard_server());
      transcript reply;
      REQUIRE(h.run([&]() -> awaitable<void> {
        fake_client c(h.executor());
        expect(co_await c.connect(h.listen_path), "connect to pgrelay");
        expect(!(co_await c.login()).eof, "login");
        co_await c.send(query("begin"));
        expect((co_await c.read_until_ready()).ready_status() == 'T', "open a transaction");
        co_await c.send(in.bytes);
        reply = co_await c.read_until_eof();
      }) == "done");
      CAPTURE(reply.tags());
      REQUIRE(reply.tags() == "E");
      require_one_error_then_eof(reply, "08P01");
    }
  }
}

TEST_CASE("server authentication: pgrelay answers with the configured password", "[session]") {
  std::string answer;  // body of the client's PasswordMessage, as the fake received it
  SECTION("cleartext") {
    auto script = [&answer](wire& w, int conn) -> awaitable<void> {
      co_await w.write(authentication_request(3));
      auto m = co_await w.read();
      if (!m || m->tag != 'p') co_return;
      answer = m->body;
      co_await accept_login(w, conn);
      co_await serve_queries(w, conn, default_answer);
    };
    harness h(script, {.server_password = "s3cret"});
    query_run r;
    REQUIRE(h.run(login_and_query(h, r, "select 1")) == "done");
    CHECK(answer == std::string("s3cret\0", 7));
    CHECK(r.login.messages.back().tag == 'Z');
    CHECK(r.reply.bytes().starts_with(select_one()));
  }
  SECTION("MD5") {
    const pr::md5_salt salt{0x01, 0x9a, 0x00, 0xff};
    auto script = [&answer, salt](wire& w, int conn) -> awaitable<void> {
      co_await w.write(authentication_request(5, std::string(reinterpret_cast<const char*>(salt.data()), 4)));
      auto m = co_await w.read();
      if (!m || m->tag != 'p') co_return;
      answer = m->body;
      co_await accept_login(w, conn);
      co_await serve_queries(w, conn, default_answer);
    };
    harness h(script, {.server_password = "s3cret"});
    query_run r;
    REQUIRE(h.run(login_and_query(h, r, "select 1")) == "done");
    CHECK(answer == pr::md5_password_message("app", "s3cret", salt) + std::string(1, '\0'));
    CHECK(r.login.messages.back().tag == 'Z');
  }
}

TEST_CASE("server authentication: SCRAM-SHA-256 against a fake that checks the proof", "[session]") {
  auto scram_server = [](std::string password, bool& proved) -> server_script {
    return [password, &proved](wire& w, int conn) -> awaitable<void> {
      std::string_view mechanisms[] = {"SCRAM-SHA-256"};
      std::string out;
      pr::build::authentication_sasl(out, mechanisms);
      co_await w.write(out);
      auto first = co_await w.read();
      pr::sasl_initial_view initial;
      if (!first || !pr::parse_sasl_initial_response(first->body, initial)) co_return;
      pr::scram_server scram(pr::compute_scram_verifier(password, "fake-salt", 4096),
                             pr::make_scram_nonce(pr::random_bytes(18)));
      auto server_first = scram.handle_client_first(initial.data);
      if (!server_first) co_return;
      out.clear();
      pr::build::authentication_sasl_continue(out, *server_first);
      co_await w.write(out);
      auto final_msg = co_await w.read();
      if (!final_msg) co_return;
      auto server_final = scram.handle_client_final(final_msg->body);
      if (!server_final) {
        co_await w.write(error("FATAL", "28P01", "password authentication failed for user \"app\""));
        co_return;
      }
      proved = true;
      out.clear();
      pr::build::authentication_sasl_final(out, *server_final);
      co_await w.write(out);
      co_await accept_login(w, conn);
      co_await serve_queries(w, conn, default_answer);
    };
  };
  bool proved = false;
  SECTION("right password") {
    harness h(scram_server("s3cret", proved), {.server_password = "s3cret"});
    query_run r;
    REQUIRE(h.run(login_and_query(h, r, "select 1")) == "done");
    CHECK(proved);
    CHECK(r.login.messages.back().tag == 'Z');
    CHECK(r.reply.bytes().starts_with(select_one()));
  }
  SECTION("wrong password: the server's 28P01 reaches the client") {
    harness h(scram_server("other", proved), {.server_password = "s3cret"});
    query_run r;
    REQUIRE(h.run(login_and_query(h, r, "select 1")) == "done");
    CHECK_FALSE(proved);
    REQUIRE(r.login.tags() == "RE");
    require_one_error_then_eof(r.login, "28P01");
  }
}
