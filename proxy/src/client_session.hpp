// One client connection, driven by one coroutine: login, then for each request unit borrow a
// server (transaction mode) or keep one (session mode) and relay bytes in both directions.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "byte_buffer.hpp"
#include "net.hpp"
#include "pgrelay/conf/config.hpp"
#include "pgrelay/core/client_frames.hpp"
#include "pgrelay/core/oversize_statement.hpp"
#include "pgrelay/core/session_core.hpp"
#include "pgrelay/core/statement_rewriter.hpp"
#include "pgrelay/protocol/frame_scanner.hpp"
#include "pgrelay/protocol/startup.hpp"
#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/route.hpp"
#include "server_connection.hpp"
#include "session_links.hpp"
#include "session_list.hpp"
#include "stats.hpp"

namespace pgrelay::proxy {

class worker;
class pool;
struct acquire_result;

using core::pin_reason;

// How long a server may take to stop a cancelled query, or to run the ROLLBACK or DISCARD ALL
// that cleans up after a client, before it is closed instead.
inline constexpr millis cancel_grace{5000};
using core::pin_reason_count;

// What the relay does with a client statement after looking at its session effects.
struct statement_verdict {
  std::string replacement_sql;           // non-empty: send this instead (a rejection, or a rename)
  core::statement_id prepare_first = 0;  // make sure the server has this shared statement first
  bool reject = false;
};

using core::disconnect_reason;

class client_session : public std::enable_shared_from_this<client_session>,
                       public server_read_taker,
                       public session_hook {
 public:
  // `family`: the socket's address family (AF_INET, AF_INET6, AF_UNIX), to give it back to Asio
  // after compact parking.
  client_session(worker& w, stream_socket socket, std::string peer, int family);
  ~client_session();

  // relay_state.hpp; named here for the worker that keeps spare ones.
  struct relay_state;
  struct relay_state_deleter {
    void operator()(relay_state* st) const noexcept;
  };

  // Runs the session (login, then request units) on its worker's loop; the session keeps itself
  // alive until it ends.
  void start();
  // Called on this session's executor when a matching CancelRequest arrives.
  void forward_cancel();
  // Its worker's loop, where everything that touches the session runs.
  io_executor executor() const;

  // For the console (on the worker's thread).
  struct client_view view() const;
  const std::string& database() const { return core_.who.database; }
  bool holds_server() const { return server_ != nullptr; }
  const server_connection* server() const { return server_.get(); }
  const pool* server_pool() const { return pool_; }
  const pool* home_pool() const { return primary_pool_; }
  bool waiting_for_server() const { return core_.waiting_for_server; }
  // Tells the client 57P01 and closes both legs now (KILL, SIGINT, shutdown timeout).
  void terminate(std::string_view why);
  // Graceful shutdown: an idle session ends now; a busy one at its next quiet point.
  void on_shutdown();
  // The worker's sweep: a session that has waited idle since the previous sweep parks
  // (session_parking.cpp).
  void offer_park();
  // Compact parking (session_parking.cpp): the parked set reports that the client sent
  // something or left; the worker's stop ends a session parked so.
  void wake_from_parked_set();
  void drop_compact_park();

 private:
  enum class relay_end {
    released,          // server quiet: hand it back (transaction mode)
    client_terminate,  // Terminate received
    client_eof,
    client_protocol_error,
    client_oversize,   // a statement too big to hold that cannot stream (oversize_statement.hpp)
    server_eof,
    idle_timeout,
    query_timeout,
    cut_frame,         // the server is quiet but holds part of a client frame that is slow to end
    replica_refused,   // a replica's whole answer is a refusal the primary can redo (refusal_)
  };

  // client_login.cpp
  awaitable<bool> login();
  awaitable<bool> read_startup(protocol::startup_packet& packet, std::string& storage);
  // login()'s parts: TLS policy, user and database, protocol version; the console; a pool.
  awaitable<bool> accept_startup(const protocol::startup_packet& packet);
  awaitable<bool> open_admin_console();
  awaitable<bool> join_pool(const protocol::startup_packet& packet);
  awaitable<bool> take_startup_settings(const protocol::startup_packet& packet);
  awaitable<bool> authenticate(const std::string& user);
  // authenticate()'s parts: the AuthenticationSASL offer (true: with channel binding), one
  // PasswordMessage (SASL), and the answer to a failed proof.
  bool offer_sasl_mechanisms();
  awaitable<std::optional<std::string>> read_password_message();
  awaitable<void> refuse_login(const std::string& user, bool bad_proof, const std::string& why, bool refetch);
  awaitable<bool> establish_parameters();
  awaitable<void> handle_cancel_request(std::int32_t pid, std::string key);
  awaitable<void> relay_replication();

  // client_session.cpp
  awaitable<void> run();
  // Runs `body` (run, or serve_units after parking) as this session's coroutine.
  void spawn(awaitable<void> body);
  // Request units until the session ends (then logs it) or parks.
  awaitable<void> serve_units();
  // Its loop: each request unit from the client to the end of its answer, until the session
  // ends or parks (parking_).
  awaitable<void> serve_request_units();
  // What follows a relay's end: the next unit, or a step that needs a coroutine (stop: the
  // session ends, already told).
  enum class unit_next { unit, stop, retry_on_primary, after_quiet_point, end_session };
  unit_next after_relay(relay_end end);
  // After the unit is read: attaches a server for the unit, unless it was answered here. The
  // usual case (not paused, nothing to answer here, a pool without routing, an idle server in
  // line) is a plain call that answers `done`; else it says where start_unit goes on, with no
  // step repeated. `sql`: what an attached server needs first (unit_step::sync).
  enum class unit_step { done, pause_or_local, route, attach, sync };
  unit_step start_unit_at_once(std::string& sql);
  enum class unit_start { attached, skip, end };
  awaitable<unit_start> start_unit(unit_step from, std::string sql);
  // A replica refused the unit or died before answering it: the primary answers instead.
  awaitable<bool> retry_on_primary(relay_end end);
  // Reading a request unit, one pass per wake-up: `wait` until the read buffer holds a whole
  // unit (or enough of one to start relaying it), then `complete`; the rest end the session
  // (end_unit_read tells the client and sets the reason) or park it. `waited`: a wait just
  // ended, so the read that woke it is taken before scanning again.
  enum class unit_read { complete, wait, shutdown, protocol_error, terminate, eof, park };
  unit_read read_unit_pass(std::size_t& pos, bool waited);
  awaitable<void> end_unit_read(unit_read r);
  // session_parking.cpp. An idle session between request units, holding no server and no
  // buffered byte, can park: its coroutine ends, its I/O part (client_io) is freed, and
  // a readiness wait on the socket (no buffer) stands for it until the client sends or leaves;
  // then serve_units starts again. Waiting parked costs the same system calls as a pending read.
  // Parked clients beyond `compact_parking_after` (per process) park compactly: the socket
  // leaves Asio's reactor for the worker's parked_sockets (about 300 bytes less per idle client,
  // five more system calls per park and wake).
  bool may_park() const;
  void park();
  void wait_in_reactor();
  bool park_compactly();
  // Takes the socket's descriptor out of the parked set (`forget`: before it fired), and with
  // take_back_socket gives it back to Asio.
  int leave_parked_set(bool forget);
  void take_back_socket(bool forget);
  // Back from compact parking to a wait in Asio, for what acts on a parked session's socket
  // (terminate).
  void surface();
  void unpark();
  // What the read buffer holds of the next unit, from byte `pos` on (advanced past the whole
  // frames seen).
  enum class unit_scan { complete, need_more, protocol_error, terminate };
  unit_scan scan_request_unit(std::size_t& pos);
  // Consumes frames at the head of the read buffer that Postgres would ignore (a failed COPY's
  // tail), so that they need no server.
  void drop_ignored_frames();
  // Frames the relay must hold whole before sending: statements it inspects or renames, up to
  // core::statement_buffer_limit (bigger ones take the ways of oversize_statement.hpp).
  bool needs_whole(char tag, std::size_t total) const {
    return tag == 'X' || (core_.statements && total <= core::statement_buffer_limit && core::is_statement_tag(tag));
  }
  // After the server went quiet in transaction mode: settle pins and settings, hand it back.
  // False when the session must end.
  awaitable<bool> after_quiet_point();
  // after_quiet_point's steps (core::quiet_step).
  awaitable<bool> restore_startup_parameters();
  bool release_after_quiet_point();
  awaitable<void> end_session(relay_end end);
  // The bytes of a unit of Parses of already-validated named statements, which pgrelay answers
  // without a server (answer_locally); 0 when the unit needs a server.
  std::size_t locally_answerable() const;
  void answer_locally(std::size_t size);
  // attached: server_ is set. refused: no server; in transaction mode the buffered request got an
  // ERROR and ReadyForQuery, like any failed statement, and the client may go on (an app's
  // connection outlives a primary restart). failed: the client got a FATAL; the session ends.
  enum class attach_result { attached, refused, failed };
  awaitable<attach_result> attach_server();
  static unit_start unit_start_after(attach_result attached);
  // attach_server's steps, for callers that await pool::acquire themselves (a coroutine frame
  // fewer on the path of every unit that waits for a server). adopt_acquired: attaches the
  // server `got` holds and returns what it needs first (sync_parameters), often nothing;
  // nullopt when `got` holds none. attach_after_refusal: then, the primary instead of an
  // unreachable replica, or the error told to the client.
  std::optional<std::string> adopt_acquired(acquire_result& got, clock::time_point wait_started);
  awaitable<attach_result> attach_after_refusal(acquire_result got, clock::time_point wait_started);
  // attach_server's usual case without a coroutine: an idle server now. True when attached;
  // `sql` is then what the server needs first (sync_parameters), often nothing.
  bool attach_idle_server(std::string& sql);
  // Makes `server` this session's for the unit; returns the SQL that gives it the client's settings.
  std::string adopt_server(std::unique_ptr<server_connection> server);
  // Bytes of the buffered request unit when it is all here and ends with Query, Sync or
  // FunctionCall (so an ERROR plus ReadyForQuery answers it completely); 0 otherwise.
  std::size_t whole_unit_size() const;
  // routing.cpp: picks the pool for the buffered request unit when pool_without_routing() could
  // not; nullptr after answering an error.
  awaitable<pool*> choose_pool();
  // choose_pool's usual case without a coroutine frame: nullptr when the unit must wait for a
  // replica to replay its scope's writes or be refused, which choose_pool then decides anew.
  pool* route_at_once();
  // What the router decided for the buffered unit, and what it decided from.
  struct route_plan {
    const router::topology* topo = nullptr;
    router::classification unit;
    router::session_view view;
    std::int64_t shared_write = 0;
    std::uint64_t pick = 0;
    router::decision d;
  };
  route_plan plan_route();
  bool waits_for_replay(const route_plan& plan);
  // Counts a decision (as `counted`) and returns where it goes.
  session_links::target& count_route(const router::decision& d, router::route_reason counted);
  // Records a decision in the session's routing state; the pool it goes to.
  pool* follow_route(const router::classification& unit, const router::decision& d,
                     const session_links::target& target);
  // The pool when no routing decision is needed (session mode, routing off, no replica), without
  // a coroutine frame; nullptr when choose_pool must decide.
  pool* pool_without_routing();
  // The buffered unit's classification (core::classify_unit with this client's statements).
  router::classification classify_unit();
  // The text of this client's prepared statement `name`, if pgrelay knows it.
  std::optional<std::string_view> prepared_sql(std::string_view name) const;
  // Called when the server reports a write unit's transaction over, before the client can see it.
  void note_write_finished(clock::time_point at);
  // routing.read_your_writes_wait: waits for a replica to replay the floor; the new decision.
  awaitable<router::decision> wait_for_replay(const router::classification& unit, router::session_view view,
                                              std::int64_t shared_write, std::uint64_t pick, router::decision d);
  // ryw_wait.cpp: a replica refused the held-back request; what the primary re-run needs.
  core::replica_refusal replica_refused() const;
  void learn_from_refusal();
  bool can_retry_elsewhere() const;
  bool holding_replica_answer() const;
  void restore_retry_bytes();
  // relay.cpp: the session's coroutine relays both directions. Reads and writes are started with
  // plain completion handlers that record the outcome in an io_slot and wake the coroutine, so
  // a request costs no coroutine spawn; at most one operation of each kind is in flight.
  // relay_pass does what the completions allow and answers nullopt until the relay ends: the
  // caller then waits (wait_io) and calls it again. After the end, end_relay_at_once (true) or
  // drain_and_end_relay, which first waits for the operations in flight.
  void begin_relay();
  std::optional<relay_end> relay_pass(relay_state& st);
  bool end_relay_at_once(relay_end end);
  awaitable<void> drain_and_end_relay();
  // What only a running relay uses: borrowed from the worker's spares (worker::relay_spares) when
  // a relay starts and given back when it ends, so their write plans' vectors keep their
  // capacity (a transaction allocates nothing for them) and the session an idle client keeps
  // holds none of it.
  std::unique_ptr<relay_state, relay_state_deleter> relay_state_;
  void borrow_relay_state();
  void return_relay_state();
  struct client_step {
    std::size_t pos = 0;  // bytes of the read buffer the server write carries
    bool terminate = false;
    bool protocol_error = false;
    bool oversize = false;  // a statement too big to hold that cannot stream (54000)
  };
  // relay_pass's parts, one pass each: what completed, client to server, server to client (none
  // while a write in that direction is in flight), and whether the server may go back now.
  std::optional<relay_end> take_completions(relay_state& st);
  std::optional<relay_end> forward_client(relay_state& st, bool& look_again);
  std::optional<relay_end> forward_server(relay_state& st);
  bool may_release_now(relay_state& st);
  client_step scan_client(relay_state& st);
  // scan_client's parts: the request bookkeeping at a frame's start, and the transaction-mode
  // rewrite of a frame into st.to_server_side (false: its bytes go as they came).
  void note_client_frame_start(const protocol::scan_step& step);
  bool rewrite_client_frame(relay_state& st, const protocol::scan_step& step);
  // At the start of a statement frame too big to hold: what to do with it (see
  // oversize_statement.hpp). Streams bind heads itself (advancing `pos`); returns the verdict.
  bool is_oversize_statement(std::string_view data) const;
  core::oversize_action take_oversize_statement(relay_state& st, std::string_view data, std::size_t& pos,
                                                std::size_t& run_start);
  // False when the server sent something that is not a frame.
  bool scan_server(relay_state& st, std::size_t& pos);
  void on_server_frame(char tag, std::string_view body);
  // At a ReadyForQuery: statistics, the slow-query log, read-your-writes for a finished write.
  void count_request_end(char status);
  // What a server frame tells the shared-statement bookkeeping (statements now prepared,
  // invalidated or gone).
  void note_statement_response(const core::response_queue::verdict& v, const protocol::scan_step& step);
  std::optional<relay_end> check_relay_deadlines(relay_state& st);
  struct io_slot {
    bool busy = false;
    bool done = false;  // completed since the owner last looked
    error_code ec;
    std::size_t n = 0;
  };
  void start_client_read();
  void start_server_read();
  void server_read_done(error_code ec, std::size_t n) override;
  void start_write(byte_stream& to, const std::vector<asio::const_buffer>& buffers, io_slot& slot);
  void arm_relay_timer(clock::time_point at);
  void disarm_relay_timer();
  // Suspends until an operation started above completes (one waiter: this session's coroutine).
  awaitable<void> wait_io();
  void wake_io();
  // Cancels whatever is in flight and waits for it, so the buffers and the server are free.
  awaitable<void> drain_io();
  // Replaces a Query or Parse that session_state says must not reach the server as sent.
  bool substitute_statement(char tag, std::string_view body, core::statement_rewriter& rewriter, std::string& out);
  awaitable<void> detach_after_client_left();
  // session_state.cpp
  statement_verdict inspect_statement(std::string_view sql);
  // A Bind of the client's named statement `id`: what its Parse could leave on a server, each
  // execution can leave again, so the server is examined at the quiet point.
  void on_execute_named(core::statement_id id);
  bool may_change_session(std::string_view sql);
  // Adds `pins` to the ledger; logs and counts each reason the first time, and sends the
  // client a NOTICE for those whose policy is `warn` (a `reject` one pins like `pin` here).
  void pin(core::pin_set pins, const conf::session_state_policies& policies);
  // inspect_statement's parts: true when a reason's policy rejects the statement (v says how).
  bool pin_or_reject(core::pin_set pins, statement_verdict& v);
  void forget_statements(const router::session_effects& fx, statement_verdict& v);
  awaitable<bool> advisory_locks_held();
  // Reads back settings a savepoint rollback left uncertain and records them as the client's.
  awaitable<bool> record_verified_settings();
  // After an opaque statement (DO, CALL, unknown functions): examines the server, pins the client
  // for what must stay, adopts changed settings as the client's (session_ledger). False: the
  // server could not be examined and was closed.
  awaitable<bool> probe_session_state();
  // Runs `sql` (from the ledger's sync_sql, not empty) on the server and records what it reports.
  awaitable<bool> sync_parameters(server_connection& server, std::string& sql);
  void release_server(bool clean);

  // Local clients: libpq never asks for TLS over a Unix socket, so none is offered or required.
  bool over_unix_socket() const {
    error_code ec;
    auto ep = socket_.local_endpoint(ec);
    return !ec && ep.protocol().family() == AF_UNIX;
  }
  // SSLRequest: answers 'S' and does the handshake when tls.client allows, else 'N'.
  awaitable<bool> answer_ssl_request();
  awaitable<bool> read_client_some();
  awaitable<bool> write_client(std::string_view bytes);
  awaitable<void> fail(std::string_view sqlstate, std::string_view message, bool fatal = true);

  // The config's view for this session (config_ follows reloads between requests).
  const conf::database_config& db_config() const { return config_->databases.at(core_.who.database); }
  void follow_reload();
  // The session's staleness budget from `SET pgrelay.max_lag`, if any.
  std::optional<std::chrono::milliseconds> staleness_budget();
  void log_slow_request(clock::duration took);
  // Copies the request's text out of the read buffer (core::request_text), so that the buffer may
  // move its bytes.
  void keep_request_text();
  void end_request_text();

  // ---- what the session knows and decides: pure state, fed events by the code above ----------
  core::session_core core_{clock::now()};

  // ---- the worker's objects the session uses -------------------------------------------------
  worker& worker_;
  // The config this session follows: taken at login, refreshed between requests after a reload
  // unless its database was removed (then the session keeps the old one until it leaves).
  std::shared_ptr<const conf::config> config_;
  // Routes, pools and caches looked up per epoch: made by a unit's first use, dropped when the
  // session parks (a parked client keeps no caches; the next unit looks them up again).
  std::unique_ptr<session_links> links_;
  session_links& links() {
    if (!links_) links_ = std::make_unique<session_links>(worker_, core_.who);
    return *links_;
  }
  pool* pool_ = nullptr;          // the pool of the server borrowed now (primary or a replica)
  pool* primary_pool_ = nullptr;  // login, client accounting, session mode
  core::statement_registry* registry_ = nullptr;  // the prepared statements of (database, user)
  database_stats* stats_;                         // this worker's counters for the client's database

  // ---- I/O: the client's connection, the borrowed server, buffers and operations in flight ---
  stream_socket socket_;
  byte_stream client_stream_{socket_};  // reads and writes: TLS once the client asked for it
  // Where the client's frames start and end in the read buffer. Kept while parked: a client may
  // stall inside a frame whose bytes were already taken (an ignored frame, a COPY data header),
  // and the rest of that frame must not be read as a new one when it wakes.
  core::client_frame_cursor client_frames_;
  std::string peer_;
  std::int32_t slow_query_ms_ = 0;  // log.slow_query in ms (clamped); 0: off
  std::int32_t cancel_pid_ = 0;     // this session's key in the cancel registry; 0: none yet
  // The relay timer's arming (in relay_state); here, since a cancelled wait may complete after
  // parking freed the relay state, and must then find its generation old.
  std::uint32_t relay_timer_gen_ = 0;
  // Parked compactly: the socket's descriptor, out of socket_ (parked_self_ below keeps the
  // session alive meanwhile, as a wait in Asio would).
  int parked_fd_ = -1;
  bool client_eof_ = false;   // the client read ended (EOF or error): no more reads
  bool client_streaming_ = false;  // the last client read filled its buffer
  unsigned char family_;           // the socket's address family, for taking it back from the parked set
  // Parking (session_parking.cpp): waiting idle for the next unit, marked by the last sweep,
  // asked to park, parking now, parked, woken from parking and not read since. Bits of one byte,
  // off the relay's path, so that the session takes a size class less of every idle client.
  bool idle_waiting_ : 1 = false;
  bool park_candidate_ : 1 = false;
  bool park_requested_ : 1 = false;
  bool parking_ : 1 = false;
  bool parked_ : 1 = false;
  bool woken_ : 1 = false;
  bool in_parked_set_ : 1 = false;  // the parked set holds the socket's entry (disabled unless parked)
  // The suspended relay coroutine's completion handler, kept by its concrete type: no holder is
  // allocated per wait (Asio 1.26's any_completion_handler would re-wrap itself when moved).
  using io_handler = asio::async_result<use_awaitable_t, void()>::handler_type;
  // What only a session that reads, answers or relays uses: made with the session and again when
  // it wakes from parking, freed when it parks, so that an idle client keeps none of it (some
  // 240 bytes of the 1.2 KB a parked session held). Never null outside parking; nothing that
  // runs while the session is parked (the console's view, terminate, a cancel, the sweep)
  // touches it.
  struct client_io {
    byte_buffer in{1024};
    std::string out;                          // messages pgrelay itself writes to the client
    protocol::frame_scanner server_scanner;   // where the server's frames start and end
    std::string pending_notice;               // NOTICEs pgrelay owes the client
    io_slot client_read;   // outlives a relay: the next request unit arrives through it
    io_slot client_write;  // pgrelay's own messages are written through it too
    std::optional<io_handler> waiter;
  };
  std::unique_ptr<client_io> client_io_ = std::make_unique<client_io>();
  std::unique_ptr<server_connection> server_;
  std::shared_ptr<client_session> parked_self_;  // parked compactly: what a wait in Asio would hold
};

// Inline: each I/O completion handler calls it, and an out-of-line call there costs about ten
// instructions per completion (four per transaction).
inline void client_session::wake_io() {
  auto& pending = client_io_->waiter;
  if (!pending) return;
  io_handler waiter = std::move(*pending);
  pending.reset();
  std::move(waiter)();
}

}  // namespace pgrelay::proxy
