// Scripted peers for session tests: a fake Postgres server and a fake client, both speaking
// whole protocol frames over Unix sockets, and a harness that runs one real pgrelay worker
// (listener, client_session, pool, server_connection) between them on one io_context.
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net.hpp"
#include "worker.hpp"

// Coroutine style here: put a co_await result in a local before testing it. With GCC 12 -O2,
// `if (!co_await accept_login(w, conn)) co_return; co_await serve_queries(...);` in
// standard_session crashed on its first resume (SIGILL, invalid resume index; ASan silent),
// and the same code written with `bool ok = co_await ...` runs correctly.
namespace pgrelay::session_test {

namespace asio = boost::asio;
using proxy::awaitable;
using proxy::millis;
using unix_stream = asio::local::stream_protocol;
using proxy::io_executor;
using unix_socket = asio::basic_stream_socket<unix_stream, io_executor>;
using unix_acceptor = asio::basic_socket_acceptor<unix_stream, io_executor>;

struct message {
  char tag = 0;
  std::string body;
};

// The whole frame, as it was on the wire.
std::string encode(const message& m);

// What one side read: whole messages, then whether the stream ended and any partial frame.
struct transcript {
  std::vector<message> messages;
  bool eof = false;       // the peer closed (or the stream broke) before the awaited message
  std::string leftover;   // bytes of an incomplete frame left when the stream ended

  std::string tags() const;   // e.g. "TDCZ"
  std::string bytes() const;  // the messages re-encoded, concatenated
  int count(char tag) const;
  char ready_status() const;  // status byte of the last ReadyForQuery, '\0' if none
  const message* first(char tag) const;
};

// For checks inside client coroutines, where Catch's macros must not be used (they may
// evaluate a co_await expression twice): throws, and harness::run reports `what`.
void expect(bool ok, const char* what);

// Fields of an 'E' message, as strings ("" when absent or malformed).
std::string sqlstate_of(const message& error);
std::string text_of(const message& error);

// A Unix socket with a read buffer that yields whole frames.
class wire {
 public:
  explicit wire(unix_socket s) : socket(std::move(s)) {}

  awaitable<std::optional<message>> read();  // nullopt on EOF, error or an invalid frame
  // The untagged first packet (startup, cancel, SSL request); nullopt on EOF or a bad packet.
  awaitable<std::optional<std::string>> read_startup();
  awaitable<bool> write(std::string bytes);
  void close();
  const std::string& buffered() const { return buf_; }

  unix_socket socket;

 private:
  awaitable<bool> fill();
  std::string buf_;
};

// ---- fake Postgres ------------------------------------------------------------------------

// One server connection's behaviour after its startup packet; `conn` numbers them from 1.
// Returning closes the connection.
using server_script = std::function<awaitable<void>(wire& w, int conn)>;
// The bytes answering one simple Query on connection `conn`.
using responder = std::function<std::string(std::string_view sql, int conn)>;

// The login tail a real Postgres 15 sends after AuthenticationOk.
std::string welcome(std::int32_t pid);
inline const std::map<std::string, std::string> welcome_parameters = {
    {"server_version", "15.0"},     {"client_encoding", "UTF8"},
    {"DateStyle", "ISO, MDY"},      {"TimeZone", "UTC"},
    {"integer_datetimes", "on"},    {"standard_conforming_strings", "on"},
};
std::string row_description(std::string_view column);
std::string data_row(std::string_view value);
std::string command_complete(std::string_view tag);
std::string ready(char status = 'I');
std::string error(std::string_view severity, std::string_view code, std::string_view text);
// RowDescription + DataRow("1") + CommandComplete + ReadyForQuery: the answer to `select 1`.
std::string select_one();
// select_one() for anything but BEGIN / COMMIT / ROLLBACK, which answer with their own tags.
std::string default_answer(std::string_view sql, int conn);

// AuthenticationOk + welcome(): the login of a trust-authenticated server.
awaitable<bool> accept_login(wire& w, int conn);
// Answers each Query with `answer` until Terminate or EOF.
awaitable<void> serve_queries(wire& w, int conn, const responder& answer);
// accept_login then serve_queries.
server_script standard_server(responder answer = default_answer);

// Listens on a Unix path; reads each connection's startup packet itself, counts it (or the
// cancel request it turned out to be) and hands the connection to the script.
class fake_server {
 public:
  fake_server(asio::io_context& io, std::string path, server_script script);
  ~fake_server();
  fake_server(const fake_server&) = delete;
  fake_server& operator=(const fake_server&) = delete;

  int sessions() const;  // startup packets received
  int cancels() const;   // cancel requests received
  // Parameters of each startup packet, in arrival order.
  const std::vector<std::map<std::string, std::string>>& startups() const;

  struct state;

 private:
  std::shared_ptr<state> state_;
};

// ---- fake client --------------------------------------------------------------------------

class fake_client {
 public:
  explicit fake_client(io_executor ex) : wire_(unix_socket(ex)) {}

  awaitable<bool> connect(const std::string& path);
  // Sends a startup packet and reads up to ReadyForQuery (or EOF).
  awaitable<transcript> login(std::string user = "app", std::string database = "app");
  awaitable<bool> send(std::string bytes) { return wire_.write(std::move(bytes)); }
  awaitable<transcript> read_until(char tag);  // the message with `tag` is included
  awaitable<transcript> read_until_ready() { return read_until('Z'); }
  awaitable<transcript> read_until_eof() { return read_until('\0'); }
  void close() { wire_.close(); }

 private:
  wire wire_;
};

// Frontend messages.
std::string query(std::string_view sql);

// ---- harness ------------------------------------------------------------------------------

struct harness_options {
  std::uint32_t pool_size = 4;
  conf::pool_mode mode = conf::pool_mode::transaction;
  std::string server_password;
};

// A temp directory with two sockets: pgrelay listens on one, the fake server on the other.
class harness {
 public:
  explicit harness(server_script script, harness_options options = {});
  ~harness();

  // Runs `client` to completion, at most `limit`. Returns "done", "timed out after N ms", or
  // the message of the exception the client ended with.
  std::string run(std::function<awaitable<void>()> client, millis limit = std::chrono::seconds(5));
  // Lets pending work (session teardown, pool upkeep) run for a while.
  void settle(millis d = millis(50));

  io_executor executor() { return worker_->io().get_executor(); }
  fake_server& server() { return *server_; }

  std::string dir;
  std::string listen_path;
  std::string server_path;

 private:
  proxy::shared_state shared_;
  std::unique_ptr<proxy::worker> worker_;
  std::unique_ptr<fake_server> server_;  // destroyed first: its acceptor needs the io_context
  std::list<std::function<awaitable<void>()>> clients_;  // kept alive as long as their frames
};

}  // namespace pgrelay::session_test
