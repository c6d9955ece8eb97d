// Which replica answers may be thrown away and the request re-run on the primary: only whole
// answers that end idle after an error proving the replica did nothing.
#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <string_view>

#include "pgrelay/core/replica_refusal.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/writer.hpp"

using pgrelay::core::classify_replica_answer;
using pgrelay::core::replica_refusal;
namespace pr = pgrelay::protocol;
namespace build = pgrelay::protocol::build;

namespace {

std::string error_then_ready(std::string_view code, pr::transaction_status st = pr::transaction_status::idle,
                             pr::severity sev = pr::severity::error) {
  std::string out;
  std::array<std::string_view, 1> cols{"f"};
  build::row_description_text(out, cols);
  build::error_response(out, sev, code, "cannot execute INSERT in a read-only transaction");
  build::ready_for_query(out, st);
  return out;
}

}  // namespace

TEST_CASE("a whole read-only or recovery-conflict answer is a refusal") {
  CHECK(classify_replica_answer(error_then_ready("25006")) == replica_refusal::read_only);
  CHECK(classify_replica_answer(error_then_ready("40001")) == replica_refusal::recovery_conflict);
  CHECK(classify_replica_answer(error_then_ready("40P01")) == replica_refusal::recovery_conflict);
}

TEST_CASE("other errors, FATAL and open transactions are relayed as they are") {
  CHECK(classify_replica_answer(error_then_ready("42P01")) == replica_refusal::none);
  CHECK(classify_replica_answer(error_then_ready("25006", pr::transaction_status::failed)) == replica_refusal::none);
  CHECK(classify_replica_answer(error_then_ready("40001", pr::transaction_status::idle, pr::severity::fatal)) ==
        replica_refusal::none);
  std::string ok;
  build::command_complete(ok, "SELECT 1");
  build::ready_for_query(ok, pr::transaction_status::idle);
  CHECK(classify_replica_answer(ok) == replica_refusal::none);
}

TEST_CASE("an answer cut anywhere before its ReadyForQuery is no refusal yet") {
  const auto whole = error_then_ready("25006");
  for (std::size_t n = 0; n < whole.size(); ++n) {
    INFO(n);
    CHECK(classify_replica_answer(std::string_view(whole).substr(0, n)) == replica_refusal::none);
  }
}

TEST_CASE("only the first Sync's answer counts; a second error after it does not") {
  std::string two;
  build::command_complete(two, "SELECT 1");
  build::ready_for_query(two, pr::transaction_status::idle);
  two += error_then_ready("25006");
  CHECK(classify_replica_answer(two) == replica_refusal::none);
  // An error that is not a refusal, then a refusal in the same answer: not retried.
  std::string mixed;
  build::error_response(mixed, pr::severity::error, "22012", "division by zero");
  build::error_response(mixed, pr::severity::error, "25006", "read-only");
  build::ready_for_query(mixed, pr::transaction_status::idle);
  CHECK(classify_replica_answer(mixed) == replica_refusal::none);
}
