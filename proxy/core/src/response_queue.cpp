// Which server frame ends which request (protocol docs, "Extended Query"): Parse→'1', Bind→'2',
// Describe statement→'t' then 'T'|'n', Describe portal→'T'|'n', Execute→'C'|'I'|'s', Close→'3',
// Sync→'Z'; a simple Query or FunctionCall ends at its 'Z'. After an error Postgres skips every
// message up to the next Sync, so their answers never come.
#include "pgrelay/core/response_queue.hpp"

#include "pgrelay/protocol/writer.hpp"

namespace pgrelay::core {

namespace {
bool prepares_shared(request_kind k, statement_id id) {
  return id != 0 && (k == request_kind::injected_parse || k == request_kind::parse);
}
}  // namespace

void response_queue::skip_to_sync(verdict& v) {
  while (!queue_.empty()) {
    auto k = queue_.front().kind;
    if (k == request_kind::sync || k == request_kind::query || k == request_kind::function_call) return;
    if (prepares_shared(k, queue_.front().id)) v.unprepared.push_back(queue_.front().id);
    queue_.pop_front();
  }
}

void response_queue::drain_ready(std::string& out) {
  while (!queue_.empty() && is_synthetic(queue_.front().kind)) {
    protocol::build::close_complete(out);
    queue_.pop_front();
  }
}

response_queue::verdict response_queue::on_server_frame(char tag) {
  verdict v;
  if (is_async(tag)) return v;
  drain_ready(v.before);
  if (queue_.empty()) return v;  // not ours to judge (internal queries, or a confused stream)
  auto& head = queue_.front();
  if (tag == 'E') {
    bool simple = head.kind == request_kind::query || head.kind == request_kind::function_call;
    if (simple) return v;  // the Query still ends with its own 'Z'
    if (prepares_shared(head.kind, head.id)) v.unprepared.push_back(head.id);
    else if (head.id != 0) v.errored = head.id;
    if (head.kind != request_kind::sync) queue_.pop_front();
    skip_to_sync(v);
    return v;
  }
  if (tag == 'Z') {
    // Whatever was still pending before this Sync was skipped by the server.
    while (!queue_.empty() && queue_.front().kind != request_kind::sync &&
           queue_.front().kind != request_kind::query && queue_.front().kind != request_kind::function_call) {
      if (prepares_shared(queue_.front().kind, queue_.front().id)) v.unprepared.push_back(queue_.front().id);
      queue_.pop_front();
    }
    if (!queue_.empty()) queue_.pop_front();
    return v;
  }
  bool injected = head.kind == request_kind::injected_parse || head.kind == request_kind::injected_close ||
                  head.kind == request_kind::injected_bind;
  if (completes(head.kind, tag)) {
    if (injected) v.forward = false;
    if (tag == '1' && prepares_shared(head.kind, head.id)) v.parsed = head.id;
    queue_.pop_front();
  }
  return v;
}

}  // namespace pgrelay::core
