// Statement sharing bookkeeping; no I/O.
#include "pgrelay/core/prepared_statements.hpp"

namespace pgrelay::core {

namespace {
constexpr std::string_view reserved_prefix = "pgrelay_";
}  // namespace

std::string server_statement_name(statement_id id) { return std::string(reserved_prefix) + std::to_string(id); }

bool is_reserved_statement_name(std::string_view name) { return name.starts_with(reserved_prefix); }

// "pgrelay_" followed by something that is not a number is never a server statement's name.
std::string shielded_statement_name(std::string_view name) { return std::string(reserved_prefix) + std::string(name); }

statement_id statement_registry::intern(std::string_view sql, std::string_view param_types) {
  std::string key;
  key.reserve(sql.size() + 1 + param_types.size());
  key.append(sql).push_back('\0');
  key.append(param_types);
  auto [it, fresh] = by_key_.try_emplace(std::move(key), next_);
  if (fresh) {
    by_id_.emplace(next_, entry{std::string(sql), std::string(param_types), 0});
    ++next_;
  }
  ++by_id_[it->second].refs;
  return it->second;
}

void statement_registry::release(statement_id id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  if (--it->second.refs > 0) return;
  std::string key = it->second.sql;
  key.push_back('\0');
  key.append(it->second.param_types);
  by_key_.erase(key);
  by_id_.erase(it);
}

const statement_registry::entry* statement_registry::find(statement_id id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

statement_registry::entry* statement_registry::find(statement_id id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

void statement_registry::invalidate(statement_id id) {
  auto it = by_id_.find(id);
  if (it != by_id_.end()) ++it->second.generation;
}

void statement_registry::mark_validated(statement_id id) {
  auto it = by_id_.find(id);
  if (it != by_id_.end()) it->second.validated = true;
}

bool statement_registry::is_validated(std::string_view sql, std::string_view param_types) const {
  std::string key;
  key.reserve(sql.size() + 1 + param_types.size());
  key.append(sql).push_back('\0');
  key.append(param_types);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return false;
  auto e = by_id_.find(it->second);
  return e != by_id_.end() && e->second.validated;
}

statement_id client_statements::define(std::string_view name, std::string_view sql, std::string_view param_types) {
  auto id = registry_->intern(sql, param_types);
  binding b{id, registry_->tick()};
  if (!by_name_) by_name_ = std::make_unique<binding_map>();
  auto [it, fresh] = by_name_->try_emplace(std::string(name), b);
  if (!fresh) {
    registry_->release(it->second.id);
    it->second = b;
  }
  return id;
}

std::optional<statement_id> client_statements::find(std::string_view name) const {
  auto b = lookup(name);
  if (!b) return std::nullopt;
  return b->id;
}

std::optional<client_statements::binding> client_statements::lookup(std::string_view name) const {
  if (!by_name_) return std::nullopt;
  auto it = by_name_->find(std::string(name));
  if (it == by_name_->end()) return std::nullopt;
  return it->second;
}

bool client_statements::forget(std::string_view name) {
  if (!by_name_) return false;
  auto it = by_name_->find(std::string(name));
  if (it == by_name_->end()) return false;
  registry_->release(it->second.id);
  by_name_->erase(it);
  return true;
}

void client_statements::clear() {
  if (!by_name_) return;
  for (auto& [name, b] : *by_name_) registry_->release(b.id);
  by_name_.reset();
}

void server_statements::touch(statement_id id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  order_.splice(order_.begin(), order_, it->second);
}

std::optional<statement_id> server_statements::add(statement_id id) {
  if (contains(id)) {
    touch(id);
    return std::nullopt;
  }
  order_.push_front(id);
  index_[id] = order_.begin();
  if (index_.size() <= capacity_) return std::nullopt;
  auto victim = order_.back();
  order_.pop_back();
  index_.erase(victim);
  return victim;
}

void server_statements::remove(statement_id id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  order_.erase(it->second);
  index_.erase(it);
}

void server_statements::clear() {
  order_.clear();
  index_.clear();
}

}  // namespace pgrelay::core
