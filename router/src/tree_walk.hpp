// Generic traversal of libpg_query's protobuf parse tree through protobuf-c descriptors, so
// a node of interest is found however deeply it is nested. Internal to the router.
#pragma once

#include <protobuf-c/protobuf-c.h>

#include <cstdint>

namespace pgrelay::router::detail {

// Calls `f(child)` for every message-typed field of `m` that is set (repeated, optional, or the
// active member of a oneof).
template <class F>
void for_each_child(const ProtobufCMessage* m, F&& f) {
  const auto* d = m->descriptor;
  const auto* base = reinterpret_cast<const char*>(m);
  for (unsigned i = 0; i < d->n_fields; ++i) {
    const auto& field = d->fields[i];
    if (field.type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if (field.label == PROTOBUF_C_LABEL_REPEATED) {
      auto n = *reinterpret_cast<const size_t*>(base + field.quantifier_offset);
      auto* items = *reinterpret_cast<ProtobufCMessage* const* const*>(base + field.offset);
      for (size_t k = 0; k < n; ++k) {
        if (items[k]) f(items[k]);
      }
      continue;
    }
    if ((field.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *reinterpret_cast<const uint32_t*>(base + field.quantifier_offset) != field.id) {
      continue;
    }
    if (auto* child = *reinterpret_cast<ProtobufCMessage* const*>(base + field.offset)) f(child);
  }
}

}  // namespace pgrelay::router::detail
