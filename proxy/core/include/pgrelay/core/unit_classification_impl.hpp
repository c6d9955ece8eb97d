// The templates of unit_classification.hpp.
#pragma once

#include <utility>

#include "pgrelay/core/oversize_statement.hpp"
#include "pgrelay/protocol/messages.hpp"

namespace pgrelay::core {

template <typename PreparedSql>
frame_text statement_text(const protocol::frame& msg, bool& parsed_unnamed, PreparedSql&& prepared_sql) {
  switch (msg.tag) {
    case 'Q': {
      std::string_view sql;
      if (!protocol::parse_query(msg.body, sql)) return {};
      return {sql, false, true};
    }
    case 'P': {
      protocol::parse_view p;
      if (!protocol::parse_parse(msg.body, p)) return {};
      if (p.name.empty()) parsed_unnamed = true;
      return {p.sql};
    }
    case 'B': {
      protocol::bind_view b;
      if (!protocol::parse_bind(msg.body, b)) return {};
      // An unnamed statement parsed in an earlier unit: its text is unknown here.
      if (b.statement.empty()) return parsed_unnamed ? frame_text{} : frame_text{std::nullopt, true};
      auto sql = prepared_sql(b.statement);
      if (!sql) return {std::nullopt, true};
      return {sql};
    }
    case 'F':  // a function call by OID
      return {std::nullopt, true};
    default:
      return {};
  }
}

template <typename PreparedSql, typename Classify>
router::classification classify_unit(std::string_view data, PreparedSql&& prepared_sql, Classify&& classify) {
  const router::classification unknown{router::statement_kind::write, 1};  // only the primary is sure
  unit_verdict unit;
  std::size_t pos = 0;
  bool parsed_unnamed = false;
  while (pos < data.size()) {
    auto r = protocol::decode_frame(data.substr(pos));
    if (r.status != protocol::decode_status::ok) {
      if (is_statement_tag(data[pos])) unit.add(unknown);
      break;
    }
    pos += r.msg.size();
    auto text = statement_text(r.msg, parsed_unnamed, prepared_sql);
    if (text.unknown) {
      unit.add(unknown);
    } else if (text.sql) {
      unit.add(classify(*text.sql, text.simple_query));
    }
  }
  return std::move(unit).result();
}

}  // namespace pgrelay::core
