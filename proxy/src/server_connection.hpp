// One authenticated connection to a Postgres server, owned by a pool while idle and lent to
// one client at a time. Knows its session parameters so clients can be matched to it.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "byte_buffer.hpp"
#include "byte_stream.hpp"
#include "net.hpp"
#include "pgrelay/conf/config.hpp"
#include "pgrelay/core/cancel_guard.hpp"
#include "pgrelay/core/request_tracker.hpp"
#include "pgrelay/core/session_ledger.hpp"
#include "pgrelay/core/session_params.hpp"
#include "pgrelay/core/statement_rewriter.hpp"
#include "pgrelay/protocol/scram.hpp"
#include "tls.hpp"

namespace pgrelay::proxy {

struct server_target {
  conf::endpoint address;
  std::string database;
  std::string user;
  std::string password;
  // More startup parameters (replication connections carry the client's own).
  std::vector<std::pair<std::string, std::string>> extra_params;
  tls_ptr tls;  // null: plaintext (tls.server.mode disable)
  // Answer a cleartext-password or MD5 request on a connection without TLS (tls.server).
  bool allow_password_without_tls = false;
  // server_login: passthrough (and replication): log in as `user` with the keys the client's
  // own SCRAM proof revealed, instead of `password`. Shared by the pool's connections.
  std::shared_ptr<const protocol::scram_passthrough_keys> passthrough;
  // The pool logs in as its clients (server_login: passthrough): without keys yet, no server
  // can be opened.
  bool needs_keys = false;
  // Where the keys' verifier came from ("users file" or "auth.query"), for the mismatch message.
  std::string passthrough_source;
};

// CancelRequests on their way to a server's backend. Shared with the coroutines sending them,
// which may outlive the connection.
struct cancel_watch {
  core::cancel_guard guard;
  std::function<void()> on_settled;  // set while a pool holds the server for them
};

// Who takes the completion of the read a server's pool left standing on it while it was idle
// (server_connection::watch_idle), once the server is lent: the relay that borrowed it.
class server_read_taker {
 public:
  virtual void server_read_done(error_code ec, std::size_t n) = 0;

 protected:
  ~server_read_taker() = default;
};

// Why a server attempt failed, for the client's SQLSTATE and the log.
struct server_error {
  std::string sqlstate;  // empty: no error
  std::string message;
  explicit operator bool() const { return !sqlstate.empty(); }
};

class server_connection {
 public:
  explicit server_connection(io_executor ex) : socket_(ex) { idle_read_->owner = this; }
  ~server_connection() { idle_read_->owner = nullptr; }
  server_connection(const server_connection&) = delete;
  server_connection& operator=(const server_connection&) = delete;

  // Connects, authenticates (SCRAM-SHA-256, MD5, cleartext or trust) and reads up to the
  // first ReadyForQuery. Bounded by `timeout` as a whole.
  awaitable<server_error> open(const server_target& target, millis timeout);

  // Sends a CancelRequest for backend `pid` on a fresh connection to `target.address`, over TLS
  // when `target.tls` asks for it, and waits for the server to close it.
  awaitable<core::cancel_outcome> send_cancel(const server_target& target, std::int32_t pid, const std::string& key);

  // True when the socket shows EOF, an error or unsolicited bytes: an idle server must be silent.
  // Without a system call while watch_idle's read stands; else it polls the socket.
  bool looks_dead() const;
  // Called as the pool puts the server idle: a read into read_buf() stands on the socket until
  // something arrives. A FATAL before the backend exits, EOF or a reset completes it, so
  // checkout and upkeep learn of a death without a poll(). The borrower's relay then takes that
  // read over (take_idle_read) for the answer to its request: started before the request was
  // written, it is the one read of a transaction that Asio tries at once and finds empty, in
  // place of the poll() and of a read tried just after the write, when the answer cannot be
  // there yet.
  void watch_idle();
  // Gives the completion of watch_idle's read, if it still stands, to `taker`, with `keep` held
  // until then. False when none stands: the caller starts its own read.
  bool take_idle_read(server_read_taker& taker, std::shared_ptr<void> keep);

  // Runs `sql` (simple protocol) and consumes its whole response; ParameterStatus updates
  // `reported`. Used for parameter sync, resets and rollbacks, never for client queries.
  awaitable<server_error> run_internal(std::string sql, millis timeout);

  // Runs `sql` with `params` bound as text ($1, $2 …; extended protocol, never spliced into the
  // text) and consumes the response; rows land in internal_values_ as with run_internal.
  awaitable<server_error> run_bound(std::string_view sql, std::span<const std::string_view> params, millis timeout);

  void close();
  // Records a ParameterStatus the server sent.
  void note_parameter(std::string_view name, std::string_view value);

  // The link's state the session drives: bytes, tracking, shared statements, settings (changed
  // only through core::session_ledger).
  byte_stream& stream() { return stream_; }
  const byte_stream& stream() const { return stream_; }
  byte_buffer& read_buf() { return read_buf_; }
  const byte_buffer& read_buf() const { return read_buf_; }
  core::request_tracker& tracker() { return tracker_; }
  const core::request_tracker& tracker() const { return tracker_; }
  core::server_statement_state& statements() { return statements_; }
  core::server_settings& settings() { return settings_; }

  // What the server reported: parameters (lowercased name -> value, and -> name as reported),
  // its backend key, and the rows of the last run_internal / run_bound (NULL as empty).
  const core::param_map& reported() const { return reported_; }
  const std::map<std::string, std::string>& reported_names() const { return reported_names_; }
  std::int32_t backend_pid() const { return backend_pid_; }
  const std::string& backend_key() const { return backend_key_; }
  std::size_t internal_rows() const { return internal_rows_; }
  const std::vector<std::string>& internal_values() const { return internal_values_; }

  const conf::endpoint& address() const { return address_; }
  const tls_ptr& tls() const { return stream_.contexts(); }
  const std::shared_ptr<cancel_watch>& cancels() const { return cancels_; }

  // The pool's bookkeeping: its number for logs and views, the target generation it was opened
  // for, when it was made, lent and last given back, and how often.
  void identify(std::uint64_t id, std::uint64_t generation) {
    id_ = id;
    generation_ = generation;
  }
  void lent(clock::time_point now) { lent_at_ = now; }
  void returned(clock::time_point now) {
    last_used_ = now;
    ++uses_;
  }
  std::uint64_t id() const { return id_; }
  std::uint64_t generation() const { return generation_; }
  clock::time_point created() const { return created_; }
  clock::time_point lent_at() const { return lent_at_; }
  clock::time_point last_used() const { return last_used_; }
  std::uint64_t uses() const { return uses_; }

  // The link failed (a read or write error, garbage from the server): never reuse it.
  void mark_broken() { broken_ = true; }
  bool broken() const { return broken_; }

 private:
  stream_socket socket_;
  byte_stream stream_{socket_};   // reads and writes: TLS once negotiated
  byte_buffer read_buf_{65536};   // bytes read from the server not yet consumed
  core::request_tracker tracker_;
  core::param_map reported_;      // current reported parameters
  std::map<std::string, std::string> reported_names_;  // lowercased name -> name as reported
  core::server_settings settings_;  // what pgrelay set here since login (session_ledger)
  core::server_statement_state statements_;  // shared prepared statements (transaction mode)
  std::size_t internal_rows_ = 0;  // DataRows of the last run_internal
  std::vector<std::string> internal_values_;  // their values, row after row (NULL as empty)
  std::shared_ptr<cancel_watch> cancels_ = std::make_shared<cancel_watch>();
  std::int32_t backend_pid_ = 0;
  std::string backend_key_;
  conf::endpoint address_;
  clock::time_point created_ = clock::now();
  clock::time_point last_used_ = clock::now();
  clock::time_point lent_at_{};  // when the pool last lent it: a transaction's latency for size: auto
  std::uint64_t uses_ = 0;
  std::uint64_t id_ = 0;
  std::uint64_t generation_ = 0;  // the pool's target generation it was opened for
  bool broken_ = false;
  // watch_idle's read, shared with its completion handler, which runs after the server is gone
  // when closing it cancelled the read.
  struct idle_read {
    server_connection* owner = nullptr;  // null once the server is gone
    bool standing = false;               // started, not completed
    server_read_taker* taker = nullptr;
    std::shared_ptr<void> keep;
  };
  std::shared_ptr<idle_read> idle_read_ = std::make_shared<idle_read>();
  // read_frame's reads are its own: cancels a standing idle read and lets its completion run.
  awaitable<void> settle_idle_read();

  // SSLRequest and handshake as tls.server.mode says; before the startup packet.
  awaitable<server_error> negotiate_tls(const server_target& target);
  awaitable<server_error> authenticate(const server_target& target);
  // Refuses an authentication request `code` the server may not make now: anything but the SCRAM
  // continuation while SCRAM is unfinished, a cleartext or MD5 password without TLS.
  server_error check_auth_request(const server_target& target, const protocol::scram_client* scram,
                                  std::int32_t code) const;
  awaitable<server_error> read_until_ready();
  // Sends `out`, then reads the response up to ReadyForQuery within `timeout` (0: none).
  awaitable<server_error> send_and_read(const std::string& out, millis timeout);
  // Answers one authentication request `a` (code, data) of the login; see server_login.cpp.
  awaitable<server_error> answer_auth(const server_target& target, std::int32_t code, std::string_view data,
                                      std::optional<protocol::scram_client>& scram, std::string& out);
  // The SCRAM client-final for server-first `data`, with PBKDF2 (fixed logins) off the event loop.
  awaitable<server_error> scram_continue(const server_target& target, std::string_view data,
                                         protocol::scram_client& scram, std::string& out);
  // Reads one whole frame into `frame_`; false on EOF/error (sets broken_).
  awaitable<bool> read_frame(char& tag, std::string& body);
};

}  // namespace pgrelay::proxy
