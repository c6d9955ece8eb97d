// What routing remembers about one client from one request unit to the next: what its reads
// must see (read-your-writes), the read kept to run again on the primary, the replica's refusal,
// its place in the deal of replicas, whether the borrowed server was chosen for a write, and
// its staleness budget (`SET pgrelay.max_lag`).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "pgrelay/core/replica_refusal.hpp"
#include "pgrelay/core/session_ledger.hpp"
#include "pgrelay/core/write_floor.hpp"
#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/route.hpp"

namespace pgrelay::core {

class routing_memory {
 public:
  // Eight-byte members first, the one-byte ones together (with unit_may_write_ below): every
  // idle client keeps this.
  write_floor floor;       // read-your-writes: what a replica must have replayed
  std::uint64_t pick = 0;  // routing.balance: session: this client's place in the deal of replicas
  replica_refusal refusal = replica_refusal::none;

  // The unit goes to the primary without a routing decision (routing off, session mode): it
  // may write.
  void routed_without_decision() { unit_may_write_ = true; }
  // The router decided `d` for `unit`.
  void routed(const router::classification& unit, const router::decision& d) {
    unit_may_write_ = !d.to_replica && (unit.begin || unit.kind == router::statement_kind::write ||
                                        unit.kind == router::statement_kind::parse_error);
  }
  // The server borrowed now was chosen for what may write: its commits count for read-your-writes.
  bool unit_may_write() const { return unit_may_write_; }

  struct staleness {
    std::optional<std::chrono::milliseconds> budget;
    bool ignored_now = false;  // a new `pgrelay.max_lag` that is not a duration: log it once
  };
  // The budget the client's replayed `SET pgrelay.max_lag` sets, if any; each distinct SET is
  // parsed once.
  staleness staleness_budget(const session_ledger& ledger);

 private:
  bool unit_may_write_ = false;
  // The last `SET pgrelay.max_lag` read and its value. Boxed: few clients set one, and every
  // idle client keeps its routing memory.
  struct parsed_staleness {
    std::string sql;
    std::optional<std::chrono::milliseconds> budget;
  };
  std::unique_ptr<parsed_staleness> staleness_;
};

}  // namespace pgrelay::core
