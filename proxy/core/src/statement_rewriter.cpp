// Message layouts (protocol docs): Parse = name, query, int16 n, n × int32 type;
// Bind = portal, statement, rest; Describe/Close = 'S'|'P', name.
#include "pgrelay/core/statement_rewriter.hpp"

#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/protocol/writer.hpp"

namespace pgrelay::core {

namespace pr = pgrelay::protocol;

namespace {
void write_parse(std::string& out, std::string_view name, std::string_view sql, std::string_view types_tail) {
  pr::message_writer w(out);
  w.begin('P').cstring(name).cstring(sql).bytes(types_tail).end();
}
}  // namespace

void statement_rewriter::on_streamed_frame(char tag) {
  switch (tag) {
    case 'E': server_.responses.push(request_kind::execute); break;
    case 'S': server_.responses.push(request_kind::sync); break;
    case 'Q': server_.responses.push(request_kind::query); break;
    case 'F': server_.responses.push(request_kind::function_call); break;
    case 'B': server_.responses.push(request_kind::bind); break;
    case 'P': server_.responses.push(request_kind::parse); break;
    case 'C': server_.responses.push(request_kind::close); break;
    default: break;  // Flush, CopyData/Done/Fail expect nothing of their own
  }
}

statement_rewriter::action statement_rewriter::on_frame(char tag, std::string_view body, std::string& out) {
  switch (tag) {
    case 'P': return on_parse(body, out);
    case 'B': return on_bind(body, out);
    case 'D': return on_describe(body, out);
    case 'C': return on_close(body);
    default:
      on_streamed_frame(tag);
      return action::forward_raw;
  }
}

bool statement_rewriter::is_current(statement_id id, std::uint64_t parsed_at) const {
  if (!server_.prepared.contains(id)) return false;
  const auto* def = registry_.find(id);
  auto g = server_.generation.find(id);
  auto at = server_.prepared_at.find(id);
  return def && g != server_.generation.end() && g->second == def->generation && at != server_.prepared_at.end() &&
         at->second >= parsed_at;
}

void statement_rewriter::ensure_prepared(statement_id id, std::string& out, std::uint64_t parsed_at,
                                         bool clients_parse) {
  auto name = server_statement_name(id);
  const auto* def = registry_.find(id);
  if (!def) return;  // cannot happen while the client refers to it
  if (is_current(id, parsed_at)) {
    server_.prepared.touch(id);
    return;
  }
  if (server_.prepared.contains(id)) {  // prepared with a stale plan
    pr::build::close(out, 'S', name);
    server_.responses.push(request_kind::injected_close, id);
    server_.forget(id);
  }
  if (auto evicted = server_.prepared.add(id)) {
    pr::build::close(out, 'S', server_statement_name(*evicted));
    server_.responses.push(request_kind::injected_close, *evicted);
    server_.generation.erase(*evicted);
    server_.prepared_at.erase(*evicted);
  }
  server_.generation[id] = def->generation;
  server_.prepared_at[id] = registry_.parse_clock();
  write_parse(out, name, def->sql, def->param_types);
  server_.responses.push(clients_parse ? request_kind::parse : request_kind::injected_parse, id);
}

statement_rewriter::action statement_rewriter::on_parse(std::string_view body, std::string& out) {
  // Unnamed, or malformed: the server will say so.
  pr::parse_view p;
  if (pr::parse_is_unnamed(body) || !pr::parse_parse(body, p)) {
    server_.responses.push(request_kind::parse);
    return action::forward_raw;
  }
  auto types_tail = body.substr(p.name.size() + 1 + p.sql.size() + 1);
  client_.define(p.name, p.sql, types_tail);
  // Parsed now: every copy on a server is older, so this one is (re)prepared here and its
  // ParseComplete is the client's own answer.
  auto b = *client_.lookup(p.name);
  ensure_prepared(b.id, out, b.parsed_at, true);
  return action::replaced;
}

statement_rewriter::action statement_rewriter::on_bind(std::string_view body, std::string& out) {
  pr::bind_view b;
  if (!pr::parse_bind(body, b)) {
    server_.responses.push(request_kind::bind);
    return action::forward_raw;  // malformed: the server will say so
  }
  if (!on_bind_head(b.portal, b.statement, b.rest.size(), out)) return action::forward_raw;
  out.append(b.rest);
  return action::replaced;
}

bool statement_rewriter::on_bind_head(std::string_view portal, std::string_view statement, std::size_t rest_size,
                                      std::string& out) {
  auto found = statement.empty() ? std::nullopt : client_.lookup(statement);
  std::string server_name;
  if (found) {
    ensure_prepared(found->id, out, found->parsed_at);
    bound_ = found->id;
    server_name = server_statement_name(found->id);
  } else if (is_reserved_statement_name(statement)) {
    server_name = shielded_statement_name(statement);
  }
  server_.responses.push(request_kind::bind, found ? found->id : statement_id{0});
  if (!found && server_name.empty()) return false;
  // The frame's length covers the parameters that follow, which the caller appends or streams.
  const auto length = 4 + portal.size() + 1 + server_name.size() + 1 + rest_size;
  out.push_back('B');
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((length >> shift) & 0xff));
  out.append(portal).push_back('\0');
  out.append(server_name).push_back('\0');
  return true;
}

statement_rewriter::action statement_rewriter::on_describe(std::string_view body, std::string& out) {
  pr::target_view t;
  if (!pr::parse_describe_or_close(body, t)) {
    server_.responses.push(request_kind::describe_portal);
    return action::forward_raw;
  }
  if (t.kind == 'P') {
    server_.responses.push(request_kind::describe_portal);
    return action::forward_raw;
  }
  auto found = t.name.empty() ? std::nullopt : client_.lookup(t.name);
  if (!found) {
    server_.responses.push(request_kind::describe_statement);
    if (!is_reserved_statement_name(t.name)) return action::forward_raw;
    pr::build::describe(out, 'S', shielded_statement_name(t.name));
    return action::replaced;
  }
  ensure_prepared(found->id, out, found->parsed_at);
  pr::build::describe(out, 'S', server_statement_name(found->id));
  server_.responses.push(request_kind::describe_statement, found->id);
  return action::replaced;
}

statement_rewriter::action statement_rewriter::on_close(std::string_view body) {
  pr::target_view t;
  if (pr::parse_describe_or_close(body, t) && t.kind == 'S' && !t.name.empty() &&
      (client_.forget(t.name) || is_reserved_statement_name(t.name))) {
    // Other clients may share it: the server keeps it, the client is told it is gone (as
    // Postgres answers a Close of a name that does not exist).
    server_.responses.push(request_kind::synthetic_close_complete);
    return action::swallowed;
  }
  server_.responses.push(request_kind::close);
  return action::forward_raw;
}

}  // namespace pgrelay::core
