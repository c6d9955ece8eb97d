// See replica_refusal.hpp.
#include "pgrelay/core/replica_refusal.hpp"

#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/frame.hpp"

namespace pgrelay::core {

namespace pr = pgrelay::protocol;

namespace {

replica_refusal refusal_of(const pr::error_fields& f) {
  if (f.severity != "ERROR") return replica_refusal::none;  // FATAL: the session is gone, handled apart
  if (f.code == "25006") return replica_refusal::read_only;
  // On a standby these mean a recovery conflict (postgres.c cancels a query whose snapshot,
  // lock or buffer pin stands in the way of replay with 40001, 40P01 for a buffer-pin deadlock):
  // a standby runs no serializable transaction, and an autocommit read waits on no lock another
  // client holds. The message is not looked at: lc_messages may translate it.
  if (f.code == "40001" || f.code == "40P01") return replica_refusal::recovery_conflict;
  return replica_refusal::none;
}

}  // namespace

replica_refusal classify_replica_answer(std::string_view answer) {
  replica_refusal found = replica_refusal::none;
  std::size_t pos = 0;
  while (pos < answer.size()) {
    auto r = pr::decode_frame(answer.substr(pos));
    if (r.status != pr::decode_status::ok) return replica_refusal::none;
    pos += r.msg.size();
    if (r.msg.tag == 'E') {
      pr::error_fields f;
      if (!pr::parse_error_fields(r.msg.body, f)) return replica_refusal::none;
      auto why = refusal_of(f);
      // Only the first error counts: a second one would follow other work (pipelined Syncs).
      if (found == replica_refusal::none) found = why;
      if (why == replica_refusal::none) return replica_refusal::none;
    } else if (r.msg.tag == 'Z') {
      return r.msg.body.size() == 1 && r.msg.body[0] == 'I' ? found : replica_refusal::none;
    }
  }
  return replica_refusal::none;
}

}  // namespace pgrelay::core
