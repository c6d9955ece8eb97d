// When a read sent to a replica may run again on the primary: only while the client has seen
// none of the replica's answer, the server said no FATAL, and the kept copy holds all the
// replica was sent. These cases walk the relay's events in the orders that matter.
#include <catch2/catch.hpp>

#include <string>

#include "pgrelay/core/replica_replay.hpp"
#include "pgrelay/protocol/writer.hpp"

using pgrelay::core::replica_replay;
namespace build = pgrelay::protocol::build;

namespace {

std::string read_unit() {
  std::string q;
  build::query(q, "SELECT * FROM orders");
  return q;
}

std::string answer_rows() {
  std::string a;
  const std::string_view cols[] = {"id"};
  build::row_description_text(a, cols);
  const std::string_view vals[] = {"1"};
  build::data_row_text(a, vals);
  build::command_complete(a, "SELECT 1");
  return a;
}

}  // namespace

TEST_CASE("replica_replay: a replica dying before any answer replays on the primary", "[core][replay]") {
  replica_replay r;
  const auto unit = read_unit();
  REQUIRE(r.keep(unit, true));
  r.attached();
  r.forwarded(unit.size());
  CHECK(r.may_replay_after_failure(true, true));
  CHECK(r.sent() == unit);
  CHECK_FALSE(r.may_replay_after_failure(false, true));  // already on the primary
  CHECK_FALSE(r.may_replay_after_failure(true, false));  // the server did not break
}

TEST_CASE("replica_replay: part of the unit sent, the rest buffered: sent() is what the replica got", "[core][replay]") {
  replica_replay r;
  const auto unit = read_unit();
  REQUIRE(r.keep(unit, true));
  r.attached();
  for (std::size_t n = 0; n <= unit.size(); ++n) {
    replica_replay step = r;
    step.forwarded(n);
    CHECK(step.sent() == unit.substr(0, n));
    CHECK(step.may_replay_after_failure(true, true));
  }
  // More forwarded than kept: bytes after the kept unit reached the replica, no replay.
  r.forwarded(unit.size() + 1);
  CHECK_FALSE(r.may_replay_after_failure(true, true));
  CHECK_FALSE(r.may_judge_refusal(true));
}

TEST_CASE("replica_replay: any relayed answer or a FATAL ends the chance", "[core][replay]") {
  replica_replay r;
  REQUIRE(r.keep(read_unit(), true));
  r.attached();
  r.relayed();
  CHECK_FALSE(r.may_replay_after_failure(true, true));
  CHECK_FALSE(r.may_judge_refusal(true));
  CHECK_FALSE(r.hold_answer(answer_rows(), false));
  r.attached();  // a new server: counted afresh
  CHECK(r.may_replay_after_failure(true, true));
  r.server_said_fatal();
  CHECK(r.fatal_seen());
  CHECK_FALSE(r.may_replay_after_failure(true, true));
}

TEST_CASE("replica_replay: the answer is held until its ReadyForQuery, small and whole only", "[core][replay]") {
  replica_replay r;
  REQUIRE(r.keep(read_unit(), true));
  r.attached();
  auto answer = answer_rows();
  CHECK_FALSE(r.hold_answer("", false));  // nothing yet
  for (std::size_t cut = 1; cut <= answer.size(); ++cut) {
    CHECK(r.hold_answer(std::string_view(answer).substr(0, cut), false));
  }
  CHECK_FALSE(r.hold_answer(answer, true));  // a frame already half passed on
  std::string whole = answer;
  build::ready_for_query(whole, pgrelay::protocol::transaction_status::idle);
  CHECK_FALSE(r.hold_answer(whole, false));  // complete: relay it
  std::string big(replica_replay::max_held_answer, 'x');
  CHECK_FALSE(r.hold_answer(big, false));
  // A unit that does not end with Query or Sync: no ReadyForQuery is due to close its answer.
  replica_replay flush_only;
  REQUIRE(flush_only.keep(read_unit(), false));
  flush_only.attached();
  CHECK_FALSE(flush_only.hold_answer(answer, false));
  CHECK_FALSE(flush_only.may_judge_refusal(true));
}

TEST_CASE("replica_replay: a unit over the limit is not kept; forget drops it", "[core][replay]") {
  replica_replay r;
  CHECK_FALSE(r.keep(std::string(replica_replay::max_kept + 1, 'Q'), true));
  CHECK_FALSE(r.kept());
  REQUIRE(r.keep(read_unit(), true));
  r.attached();
  CHECK(r.may_judge_refusal(true));
  CHECK_FALSE(r.may_judge_refusal(false));
  r.forget();
  CHECK_FALSE(r.kept());
  CHECK_FALSE(r.may_replay_after_failure(true, true));
}
