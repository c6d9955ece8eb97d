// The client-to-server direction of the relay: which of the client's buffered bytes go to the
// server as they are, which are rewritten (statement names, renamed SQL) and which are dropped,
// frame by frame, at any cut.
#include <spdlog/spdlog.h>

#include "client_session.hpp"
#include "pgrelay/core/oversize_statement.hpp"
#include "pgrelay/core/statement_rewriter.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/tags.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "relay_state.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

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
  auto& responses = server_->statements().responses;
  if (tag == 'Q') {
    if (v.prepare_first != 0) rewriter.prepare(v.prepare_first, out);
    if (v.prepare_first != 0) server_->statements().forget(v.prepare_first);
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

void client_session::note_client_frame_start(const pr::scan_step& step) {
  auto& tracker = server_->tracker();
  if (tracker.outstanding() == 0 && (step.tag == 'Q' || step.tag == 'S' || step.tag == 'F')) {
    core_.timeline.request_started(clock::now());
  }
  // For the slow-request log line: a view, copied only if the read buffer needs the room first.
  if (slow_query_ms_ > 0 && step.what == pr::scan_step::kind::whole &&
      core_.running().text.note_frame(step.tag, step.body)) {
    client_io_->in.hold_consumed(true);
  }
  tracker.on_client_frame(step.tag);
}

bool client_session::rewrite_client_frame(relay_state& st, const pr::scan_step& step) {
  auto& rewriter = *st.rewriter;
  if (step.what != pr::scan_step::kind::whole) {
    if (step.starts_frame) rewriter.on_streamed_frame(step.tag);
    return false;
  }
  if ((step.tag == 'Q' || step.tag == 'P') && substitute_statement(step.tag, step.body, rewriter, st.to_server_side)) {
    return true;
  }
  auto act = rewriter.on_frame(step.tag, step.body, st.to_server_side);
  if (auto id = rewriter.take_bound()) on_execute_named(id);
  return act != core::statement_rewriter::action::forward_raw;
}

client_session::client_step client_session::scan_client(relay_state& st) {
  auto& tracker = server_->tracker();
  auto* rewriter = st.rewriter ? &*st.rewriter : nullptr;
  auto wanted = [this](char t, std::size_t total) { return needs_whole(t, total); };
  auto& plan = st.to_server;
  auto data = client_io_->in.data();
    client_step r;
  std::size_t& pos = r.pos;
  std::size_t run_start = 0;  // start of the current run of unchanged bytes
  plan.clear();
  st.to_server_side.clear();
  while (pos < data.size()) {
    if (rewriter && !client_frames_.mid_frame() && is_oversize_statement(data.substr(pos))) {
      auto action = take_oversize_statement(st, data, pos, run_start);
      if (action == core::oversize_action::need_more) break;
      if (action == core::oversize_action::refuse) {
        r.oversize = pos == 0;  // otherwise: forward what came before, refuse on the next pass
        break;
      }
      if (action == core::oversize_action::rewrite_bind_head) continue;
    }
    auto cursor_step = client_frames_.next(data.substr(pos), tracker, wanted);
    const auto& step = cursor_step.scan;
    if (step.what == pr::scan_step::kind::need_more) break;
    if (cursor_step.drop) {
      // Copy frames Postgres would ignore (a failed COPY's tail): never sent, never binding.
      plan.raw(data.data() + run_start, pos - run_start);
      pos += step.advance;
      run_start = pos;
      continue;
    }
    if (step.what == pr::scan_step::kind::bad_length || step.what == pr::scan_step::kind::too_large ||
        (step.starts_frame && !pr::is_frontend_tag(step.tag))) {
      r.protocol_error = pos == 0;  // otherwise: forward what came before, fail on the next pass
      break;
    }
    if (step.tag == 'X' && step.what == pr::scan_step::kind::whole) {
      r.terminate = true;
      break;
    }
    if (step.starts_frame) note_client_frame_start(step);
    if (rewriter) {
      const auto before = st.to_server_side.size();
      if (rewrite_client_frame(st, step)) {
        plan.raw(data.data() + run_start, pos - run_start);
        plan.side(before, st.to_server_side.size() - before);
        pos += step.advance;
        run_start = pos;
        continue;
      }
    }
    pos += step.advance;
  }
  plan.raw(data.data() + run_start, pos - run_start);
  return r;
}

bool client_session::is_oversize_statement(std::string_view data) const {
  pr::frame_header h;
  return pr::peek_header(data, h) && h.total > static_cast<std::int64_t>(core::statement_buffer_limit) &&
         core::is_statement_tag(h.tag);
}

core::oversize_action client_session::take_oversize_statement(relay_state& st, std::string_view data,
                                                              std::size_t& pos, std::size_t& run_start) {
  pr::frame_header h;
  (void)pr::peek_header(data.substr(pos), h);
  const auto total = static_cast<std::size_t>(h.total);
  auto verdict = core::judge_oversize_statement(h.tag, data.substr(pos + pr::frame_header_size));
  if (verdict.action == core::oversize_action::refuse) {
    spdlog::warn("client {}: refusing a {}-byte '{}' message: over the {}-byte statement buffer", peer_, total,
                 h.tag, core::statement_buffer_limit);
  }
  if (verdict.action == core::oversize_action::stream) {
    // Its text is never seen: whatever it does to the session is examined at the quiet point.
    core_.ledger.probe_later();
  }
  if (verdict.action != core::oversize_action::rewrite_bind_head) return verdict.action;
  auto& plan = st.to_server;
  const auto head_end = pos + pr::frame_header_size + verdict.head_size;
  const auto rest = total - pr::frame_header_size - verdict.head_size;
  auto before = st.to_server_side.size();
  server_->tracker().on_client_frame('B');
  if (st.rewriter->on_bind_head(verdict.portal, verdict.statement, rest, st.to_server_side)) {
    plan.raw(data.data() + run_start, pos - run_start);
    plan.side(before, st.to_server_side.size() - before);
    run_start = head_end;
  }
  if (auto id = st.rewriter->take_bound()) on_execute_named(id);
  client_frames_.continue_frame('B', total, head_end - pos);
  pos = head_end;
  return verdict.action;
}

}  // namespace pgrelay::proxy
