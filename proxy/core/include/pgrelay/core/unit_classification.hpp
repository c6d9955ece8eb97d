// What a request unit (the client bytes up to its Sync or Query) runs, for routing: every
// statement of the unit counts, the strongest kind decides, and a statement whose text is not
// known here (a FunctionCall, a Bind of a statement parsed elsewhere) counts as a write, since
// only the primary is sure to run it correctly.
#pragma once

#include <optional>
#include <string_view>

#include "pgrelay/core/prepared_statements.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/router/classify.hpp"

namespace pgrelay::core {

// A unit's classification from its statements': the strongest kind decides, the first
// statement's BEGIN and routing hint stand for the unit. A unit without statements goes to
// the primary: there is nothing to judge it by.
class unit_verdict {
 public:
  void add(const router::classification& c);
  router::classification result() &&;

 private:
  router::classification unit_{router::statement_kind::empty};
  bool first_ = true;
};

// The SQL one frame runs: Query and Parse carry it, Bind names a prepared statement. `unknown`:
// it runs a statement whose text is not known here. `simple_query`: a Query's text, which
// usually carries its values as literals (a prepared statement's usually has parameters).
struct frame_text {
  std::optional<std::string_view> sql;
  bool unknown = false;
  bool simple_query = false;
};

// `prepared_sql(name)` gives the text of the client's prepared statement `name`, or nullopt.
// `parsed_unnamed` is set by a Parse of the unnamed statement, so that a later Bind of it in
// the same unit adds nothing more.
template <typename PreparedSql>
frame_text statement_text(const protocol::frame& msg, bool& parsed_unnamed, PreparedSql&& prepared_sql);

// Classifies the whole frames of `data` in order with `classify(sql, simple_query)`. A frame cut at the end
// that starts a statement (one too big to hold, streamed unread) counts as unknown.
template <typename PreparedSql, typename Classify>
router::classification classify_unit(std::string_view data, PreparedSql&& prepared_sql, Classify&& classify);

}  // namespace pgrelay::core

#include "pgrelay/core/unit_classification_impl.hpp"
