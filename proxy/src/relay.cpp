// The full-duplex relay between a client and its borrowed server, as one coroutine: socket
// operations complete into io_slots and wake it (no coroutine spawned per request). In
// transaction mode, named statements are rewritten on the way up and answers dropped or
// synthesized on the way down; bytes that need no change are written straight from the read
// buffers (gather writes). Socket reads and writes: start_client_read, start_server_read,
// start_write, and the cancels in drain_io and at release.
#include <spdlog/spdlog.h>

#include "client_session.hpp"
#include "relay_state.hpp"
#include "pgrelay/core/handover.hpp"
#include "pgrelay/core/statement_rewriter.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/tags.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "pool.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

namespace {

bool wanted_from_server(char t) {
  // '1' and '3' may have to be dropped, which needs them whole (they are 5 bytes).
  return t == 'Z' || t == 'E' || t == 'S' || t == 'G' || t == 'W' || t == '1' || t == '3';
}

// What an error about a shared statement says of the statement itself: nothing (most
// errors), that DDL changed its result type, or that the server no longer has it (a
// DEALLOCATE or DISCARD pgrelay did not see).
enum class statement_error { other, stale_plan, missing };

statement_error classify_statement_error(std::string_view body) {
  pr::error_fields f;
  if (!pr::parse_error_fields(body, f)) return statement_error::other;
  if (f.code == pr::sqlstate::feature_not_supported &&
      f.message.starts_with("cached plan must not change result type")) {
    return statement_error::stale_plan;
  }
  return f.code == "26000" ? statement_error::missing : statement_error::other;
}

}  // namespace

void client_session::relay_state_deleter::operator()(relay_state* st) const noexcept { delete st; }

void worker::relay_spares_deleter::operator()(relay_spares* s) const noexcept { delete s; }

worker::relay_spares& worker::spare_relay_states() {
  if (!relay_spares_) relay_spares_.reset(new relay_spares);
  return *relay_spares_;
}

void client_session::borrow_relay_state() {
  auto& spares = worker_.spare_relay_states().free;
  if (spares.empty()) {
    relay_state_.reset(new relay_state);
    return;
  }
  relay_state_ = std::move(spares.back());
  spares.pop_back();
}

void client_session::return_relay_state() {
  // No operation of the relay is in flight now (released: none; otherwise drain_io waited), and
  // a cancelled timer wait that completes later checks this session's generation, not the state.
  relay_state_->reset();
  auto& spares = worker_.spare_relay_states().free;
  if (spares.size() < worker::relay_spares::kept) spares.push_back(std::move(relay_state_));
  relay_state_.reset();
}

// The I/O of the relay: every socket read and write of a relayed request is started here.
void client_session::start_client_read() {
  // Small requests are read into the small initial buffer (all an idle client holds); a read
  // that filled its room means more is streaming in (COPY, big batches): read big then.
  const std::size_t min = client_streaming_ ? 16384 : 256;
  auto& io = *client_io_;
  if (core_.running().text.viewing() && io.in.would_disturb(min, !client_streaming_)) keep_request_text();
  if (!client_streaming_) io.in.release_if_empty();
  std::size_t room = 0;
  char* at = io.in.prepare(min, room);
  io.in.set_read_pending(true);
  io.client_read.busy = true;
  client_stream_.async_read_some(asio::buffer(at, room), [self = shared_from_this(), room](error_code ec, std::size_t n) {
    auto& s = *self;
    auto& own = *s.client_io_;  // a read in flight keeps the session from parking
    s.client_streaming_ = n == room;
    own.in.commit(n);
    own.in.set_read_pending(false);
    s.stats_->bytes_received += n;
    own.client_read.busy = false;
    own.client_read.done = true;
    // Cancelled (by drain_io) is not an end: the next read tells.
    if (ec && ec != asio::error::operation_aborted) s.client_eof_ = true;
    s.wake_io();
  });
}

void client_session::start_server_read() {
  auto* server = server_.get();
  // The read the pool left standing while the server was idle reads the answer: it was tried
  // when it started, so nothing is tried now, when the answer cannot be here yet.
  if (server->take_idle_read(*this, shared_from_this())) {
    relay_state_->server_read.busy = true;
    return;
  }
  std::size_t room = 0;
  char* at = server->read_buf().prepare(16384, room);
  server->read_buf().set_read_pending(true);
  // The relay state outlives the read: parking, which frees it, waits for no server.
  io_slot& slot = relay_state_->server_read;
  slot.busy = true;
  server->stream().async_read_some(asio::buffer(at, room),
                                  [self = shared_from_this(), server, &slot](error_code ec, std::size_t n) {
                                    server->read_buf().commit(n);
                                    server->read_buf().set_read_pending(false);
                                    slot = {false, true, ec, n};
                                    self->wake_io();
                                  });
}

void client_session::server_read_done(error_code ec, std::size_t n) {
  relay_state_->server_read = {false, true, ec, n};  // the relay keeps its state while a read is busy
  wake_io();
}

void client_session::start_write(byte_stream& to, const std::vector<asio::const_buffer>& buffers, io_slot& slot) {
  const std::size_t total = asio::buffer_size(buffers);
  error_code failed;
  const std::size_t now = to.try_write_now(buffers, failed);
  if (failed || now == total) {
    // Done already: the relay loop takes it as a completion on its next pass, without waiting.
    slot = {false, true, failed, now};
    return;
  }
  slot.busy = true;
  auto done = [self = shared_from_this(), &slot, now](error_code ec, std::size_t n) {
    slot = {false, true, ec, now + n};
    self->wake_io();
  };
  // One range (the usual case) is written without copying the vector into the operation.
  if (buffers.size() == 1) {
    to.async_write(asio::buffer(buffers.front()) + now, std::move(done));
    return;
  }
  auto rest = asio::buffer_sequence_begin(buffers);
  std::size_t skip = now;
  while (skip >= rest->size()) skip -= (rest++)->size();
  std::vector<asio::const_buffer> tail{rest, asio::buffer_sequence_end(buffers)};
  tail.front() += skip;
  to.async_write(std::move(tail), std::move(done));
}

awaitable<void> client_session::wait_io() {
  return asio::async_initiate<const use_awaitable_t&, void()>(
      [this](io_handler handler) { client_io_->waiter.emplace(std::move(handler)); }, use_awaitable);
}

void client_session::arm_relay_timer(clock::time_point at) {
  auto& st = *relay_state_;
  if (st.timer_armed && st.timer_at == at) return;
  if (!st.timer) st.timer.emplace(socket_.get_executor());
  st.timer_armed = true;
  st.timer_at = at;
  st.timer->expires_at(at);  // a pending wait completes as cancelled: its generation is old
  st.timer->async_wait([self = shared_from_this(), gen = ++relay_timer_gen_](error_code) {
    if (gen != self->relay_timer_gen_) return;
    self->relay_state_->timer_armed = false;
    self->wake_io();
  });
}

void client_session::disarm_relay_timer() {
  auto& st = *relay_state_;
  if (!st.timer_armed) return;
  st.timer_armed = false;
  ++relay_timer_gen_;
  st.timer->cancel();
}

awaitable<void> client_session::drain_io() {
  auto& st = *relay_state_;
  disarm_relay_timer();
  if (server_ && (st.server_read.busy || st.server_write.busy)) server_->stream().cancel();
  if (client_io_->client_read.busy || client_io_->client_write.busy) client_stream_.cancel();
  while (st.server_read.busy || st.server_write.busy || client_io_->client_read.busy ||
         client_io_->client_write.busy) {
    co_await wait_io();
  }
  st.server_read = {};
  st.server_write = {};
  client_io_->client_write = {};
}

void client_session::count_request_end(char status) {
  auto now = clock::now();
  const auto end = core_.timeline.request_ended(status, now);
  ++stats_->queries;
  stats_->query_time.observe(std::chrono::duration_cast<std::chrono::microseconds>(end.query));
  if (end.transaction) {
    if (core_.routing.unit_may_write()) note_write_finished(now);  // before the client can see the commit
    ++stats_->transactions;
    stats_->xact_time_us +=
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(*end.transaction).count());
  }
  if (slow_query_ms_ > 0 && end.query >= std::chrono::milliseconds(slow_query_ms_)) log_slow_request(end.query);
  end_request_text();
}

// Bookkeeping for a whole server frame on its way to the client (the frame itself is not changed).
void client_session::on_server_frame(char tag, std::string_view body) {
  auto& server = *server_;
  auto& tracker = server.tracker();
  switch (tag) {
    case 'Z': {
      char st = 'I';
      (void)pr::parse_ready_for_query(body, st);
      tracker.on_server_frame('Z', st);
      count_request_end(st);
      core_.ledger.on_ready_for_query(st, &server.settings());
      break;
    }
    case 'C': {
      std::string_view command;
      if (pr::parse_command_complete(body, command)) core_.ledger.on_command_complete(command);
      break;
    }
    case 'E': {
      core_.ledger.on_error();
      pr::error_fields f;
      if (pr::parse_error_fields(body, f)) {
        if (f.severity == "FATAL" || f.severity == "PANIC") core_.running().replay.server_said_fatal();
        ++stats_->errors_by_class[std::string(f.code.substr(0, std::min<std::size_t>(2, f.code.size())))];
      }
      break;
    }
    case 'S': {
      pr::parameter_status_view ps;
      if (pr::parse_parameter_status(body, ps)) {
        server.note_parameter(ps.name, ps.value);
        core_.ledger.on_parameter_status(core::normalize_param_name(ps.name), ps.value, server.settings());
      }
      break;
    }
    default:
      tracker.on_server_frame(tag);
      break;
  }
}

void client_session::note_statement_response(const core::response_queue::verdict& v, const pr::scan_step& step) {
  auto& server = *server_;
  for (auto id : v.unprepared) server.statements().forget(id);
  if (v.parsed != 0) registry_->mark_validated(v.parsed);
  if (v.errored == 0 || step.tag != 'E') return;
  switch (classify_statement_error(step.body)) {
    case statement_error::stale_plan:  // every server re-prepares it on next use
      registry_->invalidate(v.errored);
      break;
    case statement_error::missing:  // prepared again at its next use here
      server.statements().forget(v.errored);
      break;
    case statement_error::other:
      break;
  }
}

bool client_session::scan_server(relay_state& st, std::size_t& pos) {
  auto& server = *server_;
  auto& responses = server.statements().responses;
  auto& plan = st.to_client;
  const bool rewriting = core_.statements.has_value();
  auto wanted = [this](char t) { return wanted_from_server(t) || (t == 'C' && core_.ledger.watches_command_tags()); };
  auto data = server.read_buf().data();
  pos = 0;
  std::size_t run_start = 0;
  plan.clear();
  st.to_client_side.clear();
  // Notices and parameter reports are not answers: a replica that says goodbye with a WARNING
  // before dying has still answered nothing, and the request may be replayed elsewhere.
  bool batch_answers = false;
  if (!client_io_->pending_notice.empty()) {
    st.to_client_side.swap(client_io_->pending_notice);
    plan.side(0, st.to_client_side.size());
  }
  auto& scanner = client_io_->server_scanner;
  while (pos < data.size()) {
    auto step = scanner.next(data.substr(pos), wanted);
    if (step.what == pr::scan_step::kind::need_more) break;
    if (step.what != pr::scan_step::kind::whole && step.what != pr::scan_step::kind::piece) return false;
    if (step.starts_frame && step.tag != 'N' && step.tag != 'S' && step.tag != 'A') batch_answers = true;
    if (rewriting && step.starts_frame && !responses.passes(step.tag)) {
      auto v = responses.on_server_frame(step.tag);
      note_statement_response(v, step);
      if (!v.before.empty()) {
        plan.raw(data.data() + run_start, pos - run_start);
        auto at = st.to_client_side.size();
        st.to_client_side += v.before;
        plan.side(at, v.before.size());
        run_start = pos;
      }
      if (!v.forward) {
        plan.raw(data.data() + run_start, pos - run_start);
        pos += step.advance;
        run_start = pos;
        continue;
      }
    }
    if (step.what == pr::scan_step::kind::whole) on_server_frame(step.tag, step.body);
    pos += step.advance;
  }
  plan.raw(data.data() + run_start, pos - run_start);
  if (rewriting) {
    // Answers pgrelay owes, also when no server frame carries them (a shared statement's Close, then Flush).
    auto at = st.to_client_side.size();
    responses.drain_ready(st.to_client_side);
    if (st.to_client_side.size() > at) batch_answers = true;
    plan.side(at, st.to_client_side.size() - at);
  }
  if (batch_answers && !plan.empty()) core_.running().replay.relayed();
  return true;
}

std::optional<client_session::relay_end> client_session::check_relay_deadlines(relay_state& st) {
  auto& tracker = server_->tracker();
  const auto& settings = pool_->settings();
  core::relay_limits limits;
  limits.idle_in_transaction = settings.idle_in_transaction_timeout;
  limits.query = settings.query_timeout;
  limits.cancel_grace = cancel_grace;
  const core::relay_facts facts{.in_transaction = tracker.in_transaction(),
                                .awaiting_client = tracker.awaiting_client(),
                                .request_outstanding = tracker.outstanding() > 0,
                                .cancel_sent = st.cancel_sent,
                                .cut_since = st.cut_since,
                                .server_write_busy = st.server_write.busy};
  if (!core::session_timeline::watching(limits, facts)) {
    disarm_relay_timer();
    return std::nullopt;
  }
  const auto due = core_.timeline.check(clock::now(), limits, facts);
  switch (due.action) {
    case core::deadline_action::idle_timeout: return relay_end::idle_timeout;
    case core::deadline_action::query_timeout: return relay_end::query_timeout;
    case core::deadline_action::cut_frame: return relay_end::cut_frame;
    case core::deadline_action::cancel_query:
      spdlog::warn("client {}: query ran past query_timeout; cancelling it on server {}", peer_, server_->id());
      forward_cancel();
      st.cancel_sent = true;
      break;
    case core::deadline_action::none: break;
  }
  if (due.wake) {
    arm_relay_timer(*due.wake);
  } else {
    disarm_relay_timer();
  }
  return std::nullopt;
}

std::optional<client_session::relay_end> client_session::take_completions(relay_state& st) {
  auto& server = *server_;
  auto& io = *client_io_;
  if (st.server_write.done) {
    st.server_write.done = false;
    if (st.server_write.ec) {
      if (st.server_write.ec != asio::error::operation_aborted) server.mark_broken();
      return relay_end::server_eof;
    }
    io.in.consume(st.client_pos);
    core_.running().replay.forwarded(st.client_pos);
  }
  if (io.client_write.done) {
    io.client_write.done = false;
    stats_->bytes_sent += io.client_write.n;
    server.read_buf().consume(st.server_pos);
    if (io.client_write.ec) return relay_end::client_eof;
  }
  if (st.server_read.done) {
    st.server_read.done = false;
    // Cancelled by the release below: the server itself is fine.
    if (st.server_read.ec && st.server_read.ec != asio::error::operation_aborted) {
      server.mark_broken();
      return relay_end::server_eof;
    }
  }
  io.client_read.done = false;  // its bytes are in the read buffer
  return std::nullopt;
}

std::optional<client_session::relay_end> client_session::forward_client(relay_state& st, bool& look_again) {
  if (st.server_write.busy || client_io_->in.empty()) return std::nullopt;
  auto step = scan_client(st);
  if (step.pos > 0) {
    st.client_pos = step.pos;
    if (!st.to_server.empty()) {
      start_write(server_->stream(), st.to_server.buffers(st.to_server_side, st.gather_server), st.server_write);
    } else {
      st.server_write = {false, true, {}, 0};  // nothing to send after all: consumed on the next pass
      look_again = true;
    }
    return std::nullopt;
  }
  if (step.protocol_error) return relay_end::client_protocol_error;
  if (step.oversize) return relay_end::client_oversize;
  if (step.terminate) return relay_end::client_terminate;
  return std::nullopt;
}

std::optional<client_session::relay_end> client_session::forward_server(relay_state& st) {
  if (client_io_->client_write.busy || holding_replica_answer()) return std::nullopt;
  if ((core_.routing.refusal = replica_refused()) != core::replica_refusal::none) return relay_end::replica_refused;
  // Most passes find no server byte and nothing pgrelay owes: the scan would plan an empty write.
  if (server_->read_buf().empty() && client_io_->pending_notice.empty() &&
      !(core_.statements && server_->statements().responses.synthetic_due())) {
    st.server_pos = 0;
    return std::nullopt;
  }
  std::size_t pos = 0;
  if (!scan_server(st, pos)) {
    server_->mark_broken();
    return relay_end::server_eof;
  }
  st.server_pos = pos;
  if (!st.to_client.empty()) {
    start_write(client_stream_, st.to_client.buffers(st.to_client_side, st.gather_client), client_io_->client_write);
  } else {
    server_->read_buf().consume(pos);
  }
  return std::nullopt;
}

bool client_session::may_release_now(relay_state& st) {
  auto& server = *server_;
  // While the server owes an answer (most passes) nothing else need be asked.
  core::link_facts facts;
  bool hand_over = false;
  if (server.tracker().quiet()) {
    facts.client_mid_frame = client_frames_.mid_forwarded_frame();
    facts.server_mid_frame = client_io_->server_scanner.mid_frame();
    facts.server_bytes_left = !server.read_buf().empty();
    facts.writes_in_flight = st.server_write.busy || client_io_->client_write.busy;
    facts.session_state = core_.who.session_mode || core_.ledger.holds_server();
    hand_over = core::may_hand_over(server.tracker(), facts);
  }
  if (!facts.client_mid_frame || !core::held_only_by_cut_frame(server.tracker(), facts)) {
    st.cut_since.reset();
  } else if (!st.cut_since && !core_.who.session_mode) {
    st.cut_since = clock::now();
  }
  return hand_over;
}

void client_session::begin_relay() {
  borrow_relay_state();
  if (core_.statements) relay_state_->rewriter.emplace(*core_.statements, *registry_, server_->statements());
}

std::optional<client_session::relay_end> client_session::relay_pass(relay_state& st) {
  auto& io = *client_io_;  // a relaying session does not park
  std::optional<relay_end> end;
  for (;;) {
    if ((end = take_completions(st))) return end;
    // Client to server: the whole frames buffered, rewritten in transaction mode.
    bool look_again = false;
    if ((end = forward_client(st, look_again))) return end;
    if (look_again || st.server_write.done) continue;  // written at once: take it first
    // Server to client, and what pgrelay owes the client.
    if ((end = forward_server(st))) return end;
    if (io.client_write.done) continue;
    if (may_release_now(st)) {
      if (!st.server_read.busy) return relay_end::released;
      server_->stream().cancel();  // answered without the server (synthesized): stop listening
      return std::nullopt;
    }
    if (client_eof_ && !io.client_read.busy && !st.server_write.busy) return relay_end::client_eof;
    if (!st.server_read.busy && !io.client_write.busy) start_server_read();
    // The client may send more meanwhile (pipelining, COPY data, Terminate) or hang up.
    if (!io.client_read.busy && !st.server_write.busy) start_client_read();
    if ((end = check_relay_deadlines(st))) return end;
    return std::nullopt;
  }
}

bool client_session::end_relay_at_once(relay_end end) {
  disarm_relay_timer();
  if (end != relay_end::released) return false;  // operations may be in flight: drain_io first
  return_relay_state();
  return true;
}

awaitable<void> client_session::drain_and_end_relay() {
  co_await drain_io();
  return_relay_state();
}

}  // namespace pgrelay::proxy
