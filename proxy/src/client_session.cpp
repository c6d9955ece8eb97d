// The relay: buffer a client's request unit, borrow a server, pump bytes both ways until the
// server owes nothing and no transaction is open, then hand the server back.
#include "client_session.hpp"

#include "admin_console.hpp"

#include "pgrelay/router/cache_key.hpp"

#include <spdlog/spdlog.h>

#include "pgrelay/core/log_text.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/tags.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "pool.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr std::size_t max_unit_buffer = 1u << 20;  // start relaying a huge request before its end

// Ends a unit: after these the client waits for an answer.
bool ends_unit(char t) { return t == 'Q' || t == 'S' || t == 'H' || t == 'F' || t == 'X'; }

}  // namespace

// Every idle client keeps one: 632 bytes and the control block's 16 fill a 648-byte slot of the
// session slab. A member that grows the session costs each of 10,000 idle clients its size
// (bench/compare.py --only idle-10000): make room elsewhere, or raise this knowingly.
static_assert(sizeof(client_session) <= 632, "client_session grew: see the comment above");

client_session::client_session(worker& w, stream_socket socket, std::string peer, int family)
    : worker_(w),
      stats_(&w.stats_for("")),
      socket_(std::move(socket)),
      peer_(std::move(peer)),
      family_(static_cast<unsigned char>(family)) {
  const auto slow_ms = w.current_config()->log.slow_query.count();
  slow_query_ms_ = static_cast<std::int32_t>(std::min<std::int64_t>(slow_ms, INT32_MAX));
  // Non-blocking before any operation: Asio then needs no ioctl of its own at the first one
  // (try_write_now needs none: it asks each write not to wait).
  error_code ignored;
  socket_.non_blocking(true, ignored);
  worker_.add_session(*this);
  worker_.shared().live_sessions.fetch_add(1, std::memory_order_relaxed);
}

client_session::~client_session() {
  // First: until it is out, a cancel on another worker may read this session (cancel_registry).
  if (cancel_pid_ != 0) worker_.shared().cancels.remove(cancel_pid_);
  worker_.remove_session(*this);
  worker_.shared().live_sessions.fetch_sub(1, std::memory_order_relaxed);
  if (parked_) worker_.shared().parked_sessions.fetch_sub(1, std::memory_order_relaxed);  // the loop's end
  if (core_.counted_client && primary_pool_) primary_pool_->budget().clients.fetch_sub(1);
  // At shutdown the pools are stopping: the server socket just closes with this session.
  if (server_ && pool_ && !worker_.shared().shutting_down) pool_->release(std::move(server_), false);
}

io_executor client_session::executor() const { return worker_.io().get_executor(); }

awaitable<bool> client_session::read_client_some() {
  std::size_t room = 0;
  char* at = client_io_->in.prepare(512, room);
  auto [ec, n] = co_await client_stream_.read_some(asio::buffer(at, room));
  if (ec) co_return false;
  client_io_->in.commit(n);
  stats_->bytes_received += n;
  co_return true;
}

awaitable<bool> client_session::write_client(std::string_view bytes) {
  // Pending pgrelay-made messages go first, in the same write.
  if (!client_io_->out.empty()) client_io_->out.append(bytes);
  const std::string_view data = client_io_->out.empty() ? bytes : std::string_view{client_io_->out};
  if (data.empty()) co_return true;
  // An asynchronous write that completes at once still queues its completion behind the
  // reactor: a scheduler round and an epoll_wait per write, three of them per login.
  error_code ec;
  std::size_t n = client_stream_.try_write_now(asio::buffer(data.data(), data.size()), ec);
  if (!ec && n < data.size()) {
    const auto unwritten = asio::buffer(data.substr(n));
    auto [wait_ec, rest] = co_await client_stream_.write(unwritten);
    ec = wait_ec;
    n += rest;
  }
  stats_->bytes_sent += n;
  client_io_->out.clear();
  co_return !ec;
}

client_view client_session::view() const {
  client_view v;
  v.user = core_.who.user;
  v.database = core_.who.database;
  v.address = peer_;
  v.application_name = core_.who.application_name;
  auto app = core_.ledger.wanted().find("application_name");
  if (app != core_.ledger.wanted().end()) v.application_name = app->second;
  v.state = core_.who.admin ? "admin" : core_.waiting_for_server ? "waiting" : server_ ? "active" : "idle";
  v.server = server_ ? std::to_string(server_->id()) : "";
  v.connected_seconds = std::chrono::duration<double>(clock::now() - core_.timeline.connected()).count();
  v.transactions = core_.timeline.transactions();
  v.pid = cancel_pid_;
  v.pins = core_.ledger.pins();
  v.tls = tls_description(client_stream_.native());
  return v;
}

void client_session::terminate(std::string_view why) {
  if (parked_fd_ >= 0) surface();
  core_.reason = disconnect_reason::shutdown;
  std::string bytes;
  pr::build::error_response(bytes, pr::severity::fatal, pr::sqlstate::admin_shutdown, why);
  error_code ec;
  if (socket_.is_open()) {
    // Best effort: a client whose socket buffer is full does not get the message.
    client_stream_.write_now(asio::buffer(bytes));
    socket_.shutdown(stream_socket::shutdown_both, ec);
    socket_.close(ec);
  }
  if (server_) server_->close();
}

void client_session::on_shutdown() {
  // Busy sessions end at their next quiet point (the run loop checks); a session that keeps its
  // server between transactions (session mode, pins) ends now if that server is idle.
  if (core_.waiting_for_server) return;
  if (!server_ || (!core_.timeline.in_transaction() && server_->tracker().quiet())) {
    terminate("terminating connection due to administrator command");
  }
}

void client_session::log_slow_request(clock::duration took) {
  auto ms = std::chrono::duration<double, std::milli>(took).count();
  // Literals and dollar-quoted bodies are emptied and control bytes escaped: parameter values
  // and secrets never reach the log, and a statement cannot forge a log line.
  keep_request_text();
  const auto kept = core_.running().text.kept();
  auto text = kept.empty() ? std::string("(no statement text: prepared or fast-path)")
                           : core::log_escape(router::log_safe_statement(kept), core::request_text::kept_bytes);
  spdlog::warn("slow request: {:.1f} ms user={} database={} client={} server={} statement={}", ms,
               core::log_escape(core_.who.user), core::log_escape(core_.who.database),
               peer_, server_ ? server_->address().to_string() : std::string("-"), text);
}

void client_session::keep_request_text() {
  if (!core_.running().text.viewing()) return;
  core_.running().text.keep();
  client_io_->in.hold_consumed(false);
}

void client_session::end_request_text() {
  core_.running().text.end();
  client_io_->in.hold_consumed(false);
}

awaitable<void> client_session::fail(std::string_view sqlstate, std::string_view message, bool fatal) {
  pr::build::error_response(client_io_->out, fatal ? pr::severity::fatal : pr::severity::error, sqlstate, message);
  ++stats_->errors_by_class[std::string(sqlstate.substr(0, 2))];
  (void)co_await write_client({});
}

void client_session::start() { spawn(run()); }

void client_session::spawn(awaitable<void> body) {
  asio::co_spawn(socket_.get_executor(), std::move(body), [self = shared_from_this()](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("client {}: session ended by an internal error: {}", self->peer_, ex.what());
    }
  });
}

awaitable<void> client_session::run() {
  auto self = shared_from_this();
  auto timeout = worker_.current_config()->auth_timeout;
  auto logged_in = co_await with_timeout<bool>(login(), timeout);
  if (!logged_in) {
    spdlog::info("client {}: login timed out", peer_);
    co_await fail(pr::sqlstate::query_canceled, "canceling authentication due to timeout");
    co_return;
  }
  if (!*logged_in) co_return;
  if (core_.who.replication()) {
    co_await relay_replication();
    co_return;
  }
  if (core_.who.admin) {
    spdlog::info("admin console: addr={} user={} connected", peer_, core::log_escape(core_.who.user));
    core_.reason = disconnect_reason::client_eof;
    // Named, not a temporary in the co_await: GCC 12 destroys such temporaries twice.
    const explain_client who{core_.who.user, core_.who.application_name};
    co_await run_admin_console(worker_, client_stream_, client_io_->in, *stats_, who);
    error_code ignored;
    socket_.close(ignored);
    co_return;
  }
  // With auth.method trust the user name is whatever the client sent: escape it like the rest.
  spdlog::info("client connected: addr={} user={} database={} application_name={} mode={} tls={}", peer_,
               core::log_escape(core_.who.user), core_.who.database, core::log_escape(core_.who.application_name),
               core_.who.session_mode ? "session" : "transaction",
               client_stream_.encrypted() ? tls_description(client_stream_.native()) : "off");
  core_.reason = disconnect_reason::client_eof;
  // The login's messages (authentication, a dozen ParameterStatus) grew the output string to
  // about 1 KiB; a client that now sits idle for hours should not keep it.
  std::string().swap(client_io_->out);
  co_await serve_units();
}

awaitable<void> client_session::serve_units() {
  auto self = shared_from_this();
  co_await serve_request_units();
  if (parking_) {
    park();
    co_return;
  }
  auto secs = std::chrono::duration<double>(clock::now() - core_.timeline.connected()).count();
  // Also logged after a failed login: user and database may be anything the client sent.
  spdlog::info("client disconnected: addr={} user={} database={} duration={:.3f}s transactions={} reason={}", peer_,
               core::log_escape(core_.who.user), core::log_escape(core_.who.database), secs,
               core_.timeline.transactions(), to_string(core_.reason));
  error_code ignored;
  socket_.shutdown(stream_socket::shutdown_both, ignored);
  socket_.close(ignored);
}

// A unit's steps run in this one frame, without a coroutine each: reading the unit, attaching a
// server and relaying (a frame each cost about 300 instructions per unit).
awaitable<void> client_session::serve_request_units() {
  for (;;) {
    if (!server_) {
      // Reads until the read buffer holds a whole request unit (or enough of one to start
      // relaying it).
      auto read = worker_.shared().shutting_down ? unit_read::shutdown : unit_read::wait;
      std::size_t pos = 0;
      bool waited = false;
      while (read == unit_read::wait && (read = read_unit_pass(pos, waited)) == unit_read::wait) {
        idle_waiting_ = client_io_->in.empty();
        co_await wait_io();
        idle_waiting_ = park_candidate_ = false;
        waited = true;
      }
      if (read != unit_read::complete) {
        co_await end_unit_read(read);
        co_return;
      }
      std::string sql;
      if (auto from = start_unit_at_once(sql); from != unit_step::done) {
        // Waiting for a server, the usual start under load, awaits the pool from this frame:
        // attach_server's steps without its frame nor start_unit's.
        auto next = unit_start::attached;
        if (from == unit_step::attach) {
          const auto wait_started = clock::now();
          core_.waiting_for_server = true;
          auto got = co_await pool_->acquire();
          core_.waiting_for_server = false;
          if (auto first = adopt_acquired(got, wait_started); !first) {
            next = unit_start_after(co_await attach_after_refusal(std::move(got), wait_started));
          } else if (!first->empty() && !co_await sync_parameters(*server_, *first)) {
            next = unit_start::end;
          }
        } else {
          next = co_await start_unit(from, std::move(sql));
        }
        if (next == unit_start::skip) continue;
        if (next == unit_start::end) co_return;
      }
    }
    begin_relay();
    std::optional<relay_end> passed;
    while (!(passed = relay_pass(*relay_state_))) co_await wait_io();
    const relay_end end = *passed;
    if (!end_relay_at_once(end)) co_await drain_and_end_relay();
    switch (after_relay(end)) {
      case unit_next::unit: continue;
      case unit_next::stop: co_return;
      case unit_next::retry_on_primary:
        if (co_await retry_on_primary(end)) continue;
        co_return;
      case unit_next::after_quiet_point:
        if (co_await after_quiet_point()) continue;
        co_return;
      case unit_next::end_session:
        co_await end_session(end);
        co_return;
    }
  }
}

client_session::unit_next client_session::after_relay(relay_end end) {
  if (end == relay_end::replica_refused || (end == relay_end::server_eof && can_retry_elsewhere())) {
    return unit_next::retry_on_primary;  // with the request's bytes kept for the replay
  }
  if (const auto& replay = core_.running().replay; end == relay_end::server_eof && replay.kept()) {
    // Why a replica's failure reached the client (part of the answer was already relayed, or
    // the server said FATAL): the one clue an operator gets.
    spdlog::warn(
        "client {}: replica {} failed; the read cannot be replayed on the primary (answered={} fatal={} "
        "sent={}/{} bytes)",
        peer_, server_ ? server_->address().to_string() : std::string("?"), replay.relayed_any(),
        replay.fatal_seen(), replay.forwarded_bytes(), replay.bytes().size());
  }
  core_.running().replay.forget();
  if (end == relay_end::released) {
    // Most units leave nothing to settle: after_quiet_point's first step, without its frame.
    switch (core_.ledger.next_quiet_step()) {
      case core::quiet_step::keep: return unit_next::unit;
      case core::quiet_step::release: return release_after_quiet_point() ? unit_next::unit : unit_next::stop;
      default: return unit_next::after_quiet_point;
    }
  }
  if (end == relay_end::cut_frame) {
    // Its server holds half a frame it would ignore: close it, drop the rest here.
    spdlog::info("client {}: stalled inside a frame its server ignores; closing server {}", peer_, server_->id());
    client_frames_.drop_rest_of_frame();
    release_server(false);
    return unit_next::unit;
  }
  return unit_next::end_session;
}

client_session::unit_step client_session::start_unit_at_once(std::string& sql) {
  if (worker_.paused(core_.who.database) || locally_answerable() > 0) return unit_step::pause_or_local;
  auto* chosen = pool_without_routing();
  if (!chosen) chosen = route_at_once();
  if (!chosen) return unit_step::route;
  pool_ = chosen;
  if (!attach_idle_server(sql)) return unit_step::attach;
  return sql.empty() ? unit_step::done : unit_step::sync;
}

awaitable<client_session::unit_start> client_session::start_unit(unit_step from, std::string sql) {
  while (from == unit_step::pause_or_local) {
    if (worker_.paused(core_.who.database)) {
      // PAUSE: hold new requests (not the ones in flight) until RESUME.
      asio::steady_timer wait(socket_.get_executor());
      while (worker_.paused(core_.who.database) && !worker_.shared().shutting_down) {
        wait.expires_after(millis(50));
        co_await wait.async_wait(use_tuple);
      }
      if (worker_.shared().shutting_down) co_return unit_start::skip;
    }
    if (auto local = locally_answerable(); local > 0) {
      answer_locally(local);
      if (!co_await write_client({})) co_return unit_start::end;
      client_io_->in.consume(local);
      co_return unit_start::skip;
    }
    from = start_unit_at_once(sql);
  }
  if (from == unit_step::route) {
    auto* chosen = co_await choose_pool();
    if (!chosen) co_return unit_start::skip;  // answered with an error; the client may go on
    pool_ = chosen;
    from = !attach_idle_server(sql) ? unit_step::attach : sql.empty() ? unit_step::done : unit_step::sync;
  }
  if (from == unit_step::sync) {
    // An idle server, attached at once, that needs the client's settings first.
    co_return co_await sync_parameters(*server_, sql) ? unit_start::attached : unit_start::end;
  }
  if (from == unit_step::done) co_return unit_start::attached;
  co_return unit_start_after(co_await attach_server());
}

client_session::unit_start client_session::unit_start_after(attach_result attached) {
  if (attached == attach_result::refused) return unit_start::skip;
  return attached == attach_result::failed ? unit_start::end : unit_start::attached;
}

awaitable<bool> client_session::retry_on_primary(relay_end end) {
  if (end == relay_end::replica_refused) {
    // Nothing of the replica's answer reached the client: the primary answers instead.
    learn_from_refusal();
  } else {
    // The replica died before any of its answer reached the client: replay the request on the primary.
    spdlog::warn("client {}: replica {} failed before answering; retrying on the primary", peer_,
                 server_->address().to_string());
    worker_.shared().replica_fallbacks.fetch_add(1, std::memory_order_relaxed);
    ++stats_->routes[static_cast<std::size_t>(router::route_reason::retried_replica_failed)];
  }
  release_server(false);
  restore_retry_bytes();
  pool_ = primary_pool_;
  co_return co_await attach_server() != attach_result::failed;
}

awaitable<void> client_session::end_session(relay_end end) {
  switch (end) {
    case relay_end::client_terminate:
    case relay_end::client_eof:
      core_.reason =
          end == relay_end::client_terminate ? disconnect_reason::client_terminate : disconnect_reason::client_eof;
      co_await detach_after_client_left();
      co_return;
    case relay_end::client_protocol_error:
      core_.reason = disconnect_reason::protocol_error;
      co_await detach_after_client_left();
      co_await fail(pr::sqlstate::protocol_violation, "invalid frontend message type or length");
      co_return;
    case relay_end::client_oversize:
      core_.reason = disconnect_reason::message_too_large;
      co_await detach_after_client_left();
      co_await fail(pr::sqlstate::program_limit_exceeded,
                    "message too large for pgrelay: a named Parse, Describe or Close over 16 MiB (use an unnamed "
                    "statement, or connect to Postgres directly)");
      co_return;
    case relay_end::idle_timeout:
      core_.reason = disconnect_reason::idle_in_transaction_timeout;
      co_await detach_after_client_left();
      co_await fail(pr::sqlstate::idle_in_transaction_timeout, "terminating connection due to idle-in-transaction timeout");
      co_return;
    case relay_end::query_timeout:
      core_.reason = disconnect_reason::query_timeout;
      release_server(false);
      co_await fail(pr::sqlstate::query_canceled, "canceling statement due to query_timeout; the server did not stop in time");
      co_return;
    default:
      break;
  }
  // The server went away under the client. If it said why (a FATAL error, already relayed),
  // that is the client's one error; otherwise say so once.
  core_.reason = disconnect_reason::server_lost;
  release_server(false);
  // Mid-message, an error would be read as the rest of a row: the close must speak alone.
  if (!core_.running().replay.fatal_seen() && !client_io_->server_scanner.mid_frame()) {
    co_await fail(pr::sqlstate::connection_failure, "server connection lost");
  }
}

void client_session::drop_ignored_frames() {
  const core::request_tracker no_server;
  for (;;) {
    auto data = client_io_->in.data();
    if (!client_frames_.mid_dropped_frame() && (data.empty() || !core::postgres_ignores(data[0], no_server))) return;
    auto step = client_frames_.next(data, no_server, [](char) { return false; });
    if (step.scan.what != pr::scan_step::kind::piece && step.scan.what != pr::scan_step::kind::whole) return;
    client_io_->in.consume(step.scan.advance);
  }
}

client_session::unit_scan client_session::scan_request_unit(std::size_t& pos) {
  const auto& in = client_io_->in;
  if (pos == 0 && (client_frames_.mid_dropped_frame() || (!in.empty() && core::is_copy_frame_tag(in.data()[0])))) {
    drop_ignored_frames();
  }
  auto data = client_io_->in.data();
  while (pos < data.size()) {
    auto r = pr::decode_frame(data.substr(pos));
    if (r.status == pr::decode_status::need_more) {
      // Statements are inspected whole, at any size Postgres accepts; other huge frames
      // (CopyData, FunctionCall) stream: relaying starts before their end.
      if (r.wanted == 0 || pos + r.wanted <= max_unit_buffer || needs_whole(data[pos], r.wanted)) break;
      return unit_scan::complete;
    }
    if (r.status != pr::decode_status::ok || !pr::is_frontend_tag(r.msg.tag)) {
      spdlog::warn("client {}: invalid frontend message (tag 0x{:02x})", peer_, static_cast<unsigned char>(data[pos]));
      return unit_scan::protocol_error;
    }
    if (r.msg.tag == 'X' && pos == 0) return unit_scan::terminate;
    pos += r.msg.size();
    if (ends_unit(r.msg.tag)) return unit_scan::complete;
  }
  return pos >= max_unit_buffer ? unit_scan::complete : unit_scan::need_more;
}

client_session::unit_read client_session::read_unit_pass(std::size_t& pos, bool waited) {
  auto& io = *client_io_;
  for (;;) {
    if (!waited) {
      switch (scan_request_unit(pos)) {
        case unit_scan::complete: return unit_read::complete;
        case unit_scan::protocol_error: return unit_read::protocol_error;
        case unit_scan::terminate: return unit_read::terminate;
        case unit_scan::need_more: break;
      }
    }
    waited = false;
    // More client bytes into the read buffer (a read the relay left pending counts).
    if (!io.client_read.done) {
      if (client_eof_) return unit_read::eof;
      if (!io.client_read.busy) {
        // Nothing pending: a readiness wait costs what a read would (session_parking.cpp).
        if ((parking_ = may_park())) return unit_read::park;
        start_client_read();
      }
      return unit_read::wait;
    }
    io.client_read.done = false;
    woken_ = false;
    if (park_requested_) {
      // The sweep cancelled the idle read: park unless bytes came first.
      park_requested_ = false;
      if ((parking_ = may_park())) return unit_read::park;
    }
  }
}

awaitable<void> client_session::end_unit_read(unit_read r) {
  switch (r) {
    case unit_read::shutdown:
      core_.reason = disconnect_reason::shutdown;
      co_await fail(pr::sqlstate::admin_shutdown, "terminating connection due to administrator command");
      break;
    case unit_read::protocol_error:
      core_.reason = disconnect_reason::protocol_error;
      co_await fail(pr::sqlstate::protocol_violation, "invalid frontend message type or length");
      break;
    case unit_read::terminate: core_.reason = disconnect_reason::client_terminate; break;
    case unit_read::eof: core_.reason = disconnect_reason::client_eof; break;
    case unit_read::complete:
    case unit_read::wait:
    case unit_read::park: break;
  }
}

std::size_t client_session::whole_unit_size() const {
  auto data = client_io_->in.data();
  std::size_t pos = 0;
  while (pos < data.size()) {
    auto r = pr::decode_frame(data.substr(pos));
    if (r.status != pr::decode_status::ok) return 0;
    pos += r.msg.size();
    if (r.msg.tag == 'Q' || r.msg.tag == 'S' || r.msg.tag == 'F') return pos;
    if (ends_unit(r.msg.tag)) return 0;  // Flush or Terminate: no ReadyForQuery is due
  }
  return 0;
}

bool client_session::can_retry_elsewhere() const {
  return core_.running().replay.may_replay_after_failure(pool_ != primary_pool_, server_ && server_->broken());
}

bool client_session::holding_replica_answer() const {
  return server_ &&
         core_.running().replay.hold_answer(server_->read_buf().data(), client_io_->server_scanner.mid_frame());
}

void client_session::restore_retry_bytes() {
  // What the failed server received is the start of the saved copy; what came after is in the
  // read buffer. The request text's view is into that buffer: taken again when the request is
  // relayed anew.
  end_request_text();
  byte_buffer restored(1024);  // the read buffer's initial size
  restored.append(core_.running().replay.sent());
  restored.append(client_io_->in.data());
  client_io_->in = std::move(restored);
  client_frames_.reset();
  core_.running().replay.forget();
}

std::size_t client_session::locally_answerable() const {
  auto data = client_io_->in.data();
  if (!core_.statements || data.empty() || data[0] != 'P') return 0;  // a Query, most often
  std::size_t pos = 0;
  std::size_t parses = 0;
  // Only Parses of statements some server already accepted, then Sync or Flush: the
  // statements are prepared lazily on whichever server the client lands on later.
  for (;;) {
    auto r = pr::decode_frame(data.substr(pos));
    if (r.status != pr::decode_status::ok) return 0;
    pos += r.msg.size();
    if (r.msg.tag == 'S' || r.msg.tag == 'H') {
      if (parses == 0) return 0;
      break;
    }
    pr::parse_view p;  // an unnamed statement is never answered here
    if (r.msg.tag != 'P' || pr::parse_is_unnamed(r.msg.body) || !pr::parse_parse(r.msg.body, p)) return 0;
    auto types_tail = r.msg.body.substr(p.name.size() + 1 + p.sql.size() + 1);
    if (!registry_->is_validated(p.sql, types_tail)) return 0;
    ++parses;
  }
  return pos;
}

void client_session::answer_locally(std::size_t size) {
  auto data = client_io_->in.data().substr(0, size);
  std::size_t at = 0;
  for (;;) {
    auto r = pr::decode_frame(data.substr(at));
    at += r.msg.size();
    if (r.msg.tag != 'P') {
      if (r.msg.tag == 'S') pr::build::ready_for_query(client_io_->out, pr::transaction_status::idle);
      break;
    }
    pr::parse_view p;
    (void)pr::parse_parse(r.msg.body, p);
    core_.statements->define(p.name, p.sql, r.msg.body.substr(p.name.size() + 1 + p.sql.size() + 1));
    pr::build::parse_complete(client_io_->out);
  }
}

}  // namespace pgrelay::proxy
