#include "pgrelay/core/unit_classification.hpp"

#include <utility>

namespace pgrelay::core {

namespace {

int strength(router::statement_kind k) {
  switch (k) {
    case router::statement_kind::empty: return 0;
    case router::statement_kind::read_only: return 1;
    case router::statement_kind::transaction_control: return 2;
    case router::statement_kind::session_state: return 3;
    case router::statement_kind::write: return 4;
    case router::statement_kind::parse_error: return 5;
  }
  return 5;
}

}  // namespace

void unit_verdict::add(const router::classification& c) {
  if (first_) {
    unit_.begin = c.begin;
    unit_.begin_read_only = c.begin_read_only;
    if (!c.hint.empty()) unit_.hint = c.hint;  // unit_'s is empty: most statements have no hint
    unit_.hint_max_lag = c.hint_max_lag;
    first_ = false;
  }
  if (strength(c.kind) > strength(unit_.kind)) unit_.kind = c.kind;
  if (c.why == router::write_reason::ddl_or_utility) unit_.why = c.why;
  if (c.begin && !c.begin_read_only) unit_.begin_read_only = false;
}

router::classification unit_verdict::result() && {
  if (first_) unit_.kind = router::statement_kind::write;  // nothing to judge by: the primary
  return std::move(unit_);
}

}  // namespace pgrelay::core
