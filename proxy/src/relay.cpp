// The full-duplex relay between a client and its borrowed server. In transaction mode, named
// statements are rewritten on the way up and answers dropped or synthesized on the way down;
// bytes that need no change are written straight from the read buffers (gather writes).
#include <spdlog/spdlog.h>

#include "client_session.hpp"
#include "pgrelay/core/statement_rewriter.hpp"
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

constexpr millis cancel_grace{5000};

bool wanted_from_server(char t) {
  // '1' and '3' may have to be dropped, which needs them whole (they are 5 bytes).
  return t == 'Z' || t == 'E' || t == 'S' || t == 'G' || t == 'W' || t == '1' || t == '3';
}

// Byte ranges to write in one go: runs of the read buffer and pgrelay-made messages. Side
// ranges are kept as offsets because the side buffer may still grow while the plan is built.
class write_plan {
 public:
  void clear() { spans_.clear(); }
  void raw(const char* p, std::size_t n) {
    if (n > 0) spans_.push_back({p, 0, n});
  }
  // Bytes [offset, offset+n) of the side buffer.
  void side(std::size_t offset, std::size_t n) {
    if (n > 0) spans_.push_back({nullptr, offset, n});
  }
  bool empty() const { return spans_.empty(); }
  const std::vector<asio::const_buffer>& buffers(const std::string& side, std::vector<asio::const_buffer>& out) {
    out.clear();
    for (const auto& s : spans_) out.emplace_back(s.raw ? s.raw : side.data() + s.offset, s.size);
    return out;
  }

 private:
  struct span {
    const char* raw;     // into the read buffer, or nullptr for a side range
    std::size_t offset;  // into the side buffer
    std::size_t size;
  };
  std::vector<span> spans_;
};

bool is_stale_plan_error(std::string_view body) {
  pr::error_fields f;
  return pr::parse_error_fields(body, f) && f.code == pr::sqlstate::feature_not_supported &&
         f.message.starts_with("cached plan must not change result type");
}

}  // namespace

bool client_session::substitute_statement(char tag, std::string_view body, core::statement_rewriter& rewriter,
                                          std::string& out) {
  std::string_view sql;
  pr::parse_view p;
  if (tag == 'Q') {
    if (!pr::parse_query(body, sql)) return false;
  } else {
    if (!pr::parse_parse(body, p)) return false;
    sql = p.sql;
  }
  auto v = inspect_statement(sql);
  if (v.replacement_sql.empty()) return false;
  auto& responses = server_->statements_.responses;
  if (tag == 'Q') {
    if (v.prepare_first != 0) rewriter.prepare(v.prepare_first, out);
    if (v.prepare_first != 0) server_->statements_.forget(v.prepare_first);
    pr::build::query(out, v.replacement_sql);
    responses.push(core::request_kind::query);
    return true;
  }
  if (!v.reject) return false;  // renames apply to simple queries only
  // The client's Parse becomes an unnamed statement that raises the error when executed: the
  // server then skips to Sync by itself, exactly as after a failed Parse.
  pr::build::parse(out, "", v.replacement_sql);
  responses.push(core::request_kind::injected_parse);
  std::vector<std::string_view> none;
  pr::build::bind_text(out, "", "", none);
  responses.push(core::request_kind::injected_bind);
  pr::build::execute(out, "");
  responses.push(core::request_kind::execute);
  return true;
}

awaitable<client_session::relay_end> client_session::relay() {
  auto r = co_await (pump_client_to_server() || pump_server_to_client());
  co_return std::visit([](auto v) { return v; }, r);
}

awaitable<client_session::relay_end> client_session::pump_client_to_server() {
  auto& tracker = server_->tracker_;
  auto& server_state = server_->statements_;
  const auto idle_limit = pool_->settings().idle_in_transaction_timeout;
  std::optional<core::statement_rewriter> rewriter;
  if (statements_) rewriter.emplace(*statements_, *registry_, server_state);
  auto wanted = [&](char t) {
    return t == 'X' || (rewriter && (t == 'Q' || core::statement_rewriter::wants_whole(t)));
  };
  write_plan plan;

  for (;;) {
    auto data = in_.data();
    std::size_t pos = 0;
    std::size_t run_start = 0;  // start of the current run of unchanged bytes
    bool terminate = false;
    plan.clear();
    to_server_side_.clear();
    while (pos < data.size()) {
      auto step = client_scanner_.next(data.substr(pos), wanted);
      if (step.what == pr::scan_step::kind::need_more) break;
      if (step.what == pr::scan_step::kind::bad_length || step.what == pr::scan_step::kind::too_large ||
          (step.starts_frame && !pr::is_frontend_tag(step.tag))) {
        if (pos > 0) break;  // forward what came before, fail on the next pass
        co_return relay_end::client_protocol_error;
      }
      if (step.tag == 'X' && step.what == pr::scan_step::kind::whole) {
        terminate = true;
        break;
      }
      if (step.starts_frame) {
        if (tracker.outstanding() == 0 && (step.tag == 'Q' || step.tag == 'S' || step.tag == 'F')) {
          request_started_ = clock::now();
        }
        if (slow_query_ms_ > 0 && request_sql_.empty() && step.what == pr::scan_step::kind::whole) {
          // Kept for the slow-request log line (capacity is reused: no allocation per request).
          std::string_view sql;
          pr::parse_view p;
          if (step.tag == 'Q' && pr::parse_query(step.body, sql)) request_sql_.assign(sql.substr(0, 2000));
          if (step.tag == 'P' && pr::parse_parse(step.body, p)) request_sql_.assign(p.sql.substr(0, 2000));
        }
        tracker.on_client_frame(step.tag);
      }
      if (rewriter) {
        if (step.what == pr::scan_step::kind::whole && (step.tag == 'Q' || step.tag == 'P')) {
          auto before = to_server_side_.size();
          if (substitute_statement(step.tag, step.body, *rewriter, to_server_side_)) {
            plan.raw(data.data() + run_start, pos - run_start);
            plan.side(before, to_server_side_.size() - before);
            pos += step.advance;
            run_start = pos;
            continue;
          }
        }
        if (step.what == pr::scan_step::kind::whole) {
          auto before = to_server_side_.size();
          auto act = rewriter->on_frame(step.tag, step.body, to_server_side_);
          if (act != core::statement_rewriter::action::forward_raw) {
            plan.raw(data.data() + run_start, pos - run_start);
            plan.side(before, to_server_side_.size() - before);
            pos += step.advance;
            run_start = pos;
            continue;
          }
        } else if (step.starts_frame) {
          rewriter->on_streamed_frame(step.tag);
        }
      }
      pos += step.advance;
    }
    plan.raw(data.data() + run_start, pos - run_start);
    if (pos > 0) {
      if (!plan.empty()) {
        auto [ec, n] = co_await server_->stream_.write(plan.buffers(to_server_side_, gather_));
        (void)n;
        if (ec) {
          if (ec != asio::error::operation_aborted) server_->broken_ = true;
          co_return relay_end::server_eof;
        }
      }
      in_.consume(pos);
      forwarded_since_attach_ += pos;
      // Answers pgrelay owes with no server frame coming first (a cached Parse, then Flush):
      // wake the server pump, which alone writes to the client.
      if (rewriter && server_state.responses.synthetic_due()) {
        wake_server_pump_ = true;
        error_code ignored;
        server_->socket_.cancel(ignored);
      }
      continue;
    }
    if (terminate) co_return relay_end::client_terminate;
    if (idle_limit.count() <= 0) {
      if (!co_await read_client_some()) co_return relay_end::client_eof;
      continue;
    }
    // The server may report "idle in transaction" while this read is pending, so the deadline
    // is re-evaluated whenever the wait ends: it counts from that ReadyForQuery.
    for (;;) {
      bool idle_in_tx = tracker.in_transaction() && tracker.awaiting_client();
      auto wait = idle_in_tx ? std::chrono::duration_cast<millis>(idle_since_ + idle_limit - clock::now()) : idle_limit;
      if (idle_in_tx && wait.count() <= 0) co_return relay_end::idle_timeout;
      auto got = co_await with_timeout<bool>(read_client_some(), wait);
      if (!got) continue;
      if (!*got) co_return relay_end::client_eof;
      break;
    }
  }
}

awaitable<client_session::relay_end> client_session::pump_server_to_client() {
  auto& server = *server_;
  auto& tracker = server.tracker_;
  auto& responses = server.statements_.responses;
  auto& buf = server.read_buf_;
  const bool rewriting = statements_.has_value();
  auto wanted = [this](char t) { return wanted_from_server(t) || (t == 'C' && !pending_sets_.empty()); };
  const auto query_limit = pool_->settings().query_timeout;
  bool cancel_sent = false;
  write_plan plan;
  for (;;) {
    auto data = buf.data();
    std::size_t pos = 0;
    std::size_t run_start = 0;
    plan.clear();
    to_client_side_.clear();
    // Notices and parameter reports are not answers: a replica that says goodbye with a WARNING
    // before dying has still answered nothing, and the request may be replayed elsewhere.
    bool batch_answers = false;
    if (!pending_notice_.empty()) {
      to_client_side_.swap(pending_notice_);
      plan.side(0, to_client_side_.size());
    }
    while (pos < data.size()) {
      auto step = server_scanner_.next(data.substr(pos), wanted);
      if (step.what == pr::scan_step::kind::need_more) break;
      if (step.what != pr::scan_step::kind::whole && step.what != pr::scan_step::kind::piece) {
        server.broken_ = true;
        co_return relay_end::server_eof;
      }
      if (step.starts_frame && step.tag != 'N' && step.tag != 'S' && step.tag != 'A') batch_answers = true;
      if (rewriting && step.starts_frame) {
        auto v = responses.on_server_frame(step.tag);
        for (auto id : v.unprepared) server.statements_.forget(id);
        if (v.parsed != 0) registry_->mark_validated(v.parsed);
        if (v.errored != 0 && step.tag == 'E' && is_stale_plan_error(step.body)) {
          // DDL changed this statement's result type: every server re-prepares it on next use.
          registry_->invalidate(v.errored);
        }
        if (!v.before.empty()) {
          plan.raw(data.data() + run_start, pos - run_start);
          auto at = to_client_side_.size();
          to_client_side_ += v.before;
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
      if (step.what == pr::scan_step::kind::whole) {
        switch (step.tag) {
          case 'Z': {
            char st = 'I';
            (void)pr::parse_ready_for_query(step.body, st);
            tracker.on_server_frame('Z', st);
            {
              auto now = clock::now();
              ++stats_->queries;
              stats_->query_time.observe(std::chrono::duration_cast<std::chrono::microseconds>(now - request_started_));
              if (st != 'I') {
                idle_since_ = now;
                if (!in_transaction_) xact_started_ = request_started_;
                in_transaction_ = true;
              } else {
                ++transactions_;
                ++stats_->transactions;
                stats_->xact_time_us += static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                    now - (in_transaction_ ? xact_started_ : request_started_)).count());
                in_transaction_ = false;
              }
              if (slow_query_ms_ > 0 && now - request_started_ >= std::chrono::milliseconds(slow_query_ms_)) {
                log_slow_request(now - request_started_);
              }
              request_sql_.clear();
            }
            settle_pending_sets(st);
            break;
          }
          case 'C': {
            std::string_view tag;
            if (pr::parse_command_complete(step.body, tag) && tag == "ROLLBACK") rollback_seen_ = true;
            break;
          }
          case 'E': {
            if (!pending_sets_.empty()) pending_doomed_ = true;
            pr::error_fields f;
            if (pr::parse_error_fields(step.body, f)) {
              if (f.severity == "FATAL" || f.severity == "PANIC") server_fatal_seen_ = true;
              ++stats_->errors_by_class[std::string(f.code.substr(0, std::min<std::size_t>(2, f.code.size())))];
            }
            break;
          }
          case 'S': {
            pr::parameter_status_view ps;
            if (pr::parse_parameter_status(step.body, ps)) {
              server.note_parameter(ps.name, ps.value);
              auto key = core::normalize_param_name(ps.name);
              if (!core::is_server_fact(key) && !restore_startup_params_) {
                wanted_[key] = std::string(ps.value);
                server.applied_[key] = std::string(ps.value);
              }
            }
            break;
          }
          default:
            tracker.on_server_frame(step.tag);
            break;
        }
      }
      pos += step.advance;
    }
    plan.raw(data.data() + run_start, pos - run_start);
    if (rewriting) {
      wake_server_pump_ = false;
      auto at = to_client_side_.size();
      responses.drain_ready(to_client_side_);
      if (to_client_side_.size() > at) batch_answers = true;
      plan.side(at, to_client_side_.size() - at);
    }
    if (!plan.empty()) {
      if (batch_answers) relayed_since_attach_ = true;
      auto [ec, n] = co_await client_stream_.write(plan.buffers(to_client_side_, gather_));
      stats_->bytes_sent += n;
      buf.consume(pos);
      if (ec) co_return relay_end::client_eof;
    } else {
      buf.consume(pos);
    }
    bool may_release = !pinned() || (pinned_only_by_advisory_locks() && advisory_recheck_);
    if (!session_mode_ && may_release && tracker.quiet() && buf.empty() && !server_scanner_.mid_frame()) {
      co_return relay_end::released;
    }
    if (wake_server_pump_) continue;
    std::size_t room = 0;
    char* at = buf.prepare(16384, room);
    auto read = [&]() -> awaitable<error_code> {
      auto [ec, n] = co_await server.stream_.read_some(asio::buffer(at, room));
      if (!ec) buf.commit(n);
      co_return ec;
    };
    error_code ec;
    if (query_limit.count() > 0 && tracker.outstanding() > 0) {
      auto deadline = request_started_ + query_limit + (cancel_sent ? cancel_grace : millis(0));
      auto left = std::chrono::duration_cast<millis>(deadline - clock::now());
      if (left.count() <= 0) left = millis(1);
      auto r = co_await with_timeout<error_code>(read(), left);
      if (!r) {
        if (cancel_sent) co_return relay_end::query_timeout;
        spdlog::warn("client {}: query ran past query_timeout; cancelling it on server {}", peer_, server.id_);
        forward_cancel();
        cancel_sent = true;
        continue;
      }
      ec = *r;
    } else {
      ec = co_await read();
    }
    if (ec == asio::error::operation_aborted && wake_server_pump_) continue;  // woken, not failed
    if (ec) {
      // Cancelled because the client side ended first: the server itself is fine.
      if (ec != asio::error::operation_aborted) server.broken_ = true;
      co_return relay_end::server_eof;
    }
  }
}

}  // namespace pgrelay::proxy
