#include "pgrelay/core/request_text.hpp"

#include "pgrelay/protocol/messages.hpp"

namespace pgrelay::core {

void request_text::keep() {
  if (!viewing()) return;
  std::string_view sql;
  protocol::parse_view p;
  if (tag_ == 'Q' && protocol::parse_query(body_, sql)) copy_.assign(sql.substr(0, kept_bytes));
  if (tag_ == 'P' && protocol::parse_parse(body_, p)) copy_.assign(p.sql.substr(0, kept_bytes));
  tag_ = 'c';
  body_ = {};
}

}  // namespace pgrelay::core
