#include "pgrelay/core/oversize_statement.hpp"

namespace pgrelay::core {

oversize_verdict judge_oversize_statement(char tag, std::string_view body) {
  oversize_verdict v;
  switch (tag) {
    case 'Q': v.action = oversize_action::stream; return v;
    case 'P':
      if (body.empty()) return v;
      v.action = body.front() == '\0' ? oversize_action::stream : oversize_action::refuse;
      return v;
    case 'B': {
      auto portal_end = body.find('\0');
      auto statement_end = portal_end == std::string_view::npos ? portal_end : body.find('\0', portal_end + 1);
      if (statement_end == std::string_view::npos) {
        if (body.size() >= bind_head_limit) v.action = oversize_action::refuse;
        return v;
      }
      v.action = oversize_action::rewrite_bind_head;
      v.portal = body.substr(0, portal_end);
      v.statement = body.substr(portal_end + 1, statement_end - portal_end - 1);
      v.head_size = statement_end + 1;
      return v;
    }
    default: v.action = oversize_action::refuse; return v;
  }
}

}  // namespace pgrelay::core
