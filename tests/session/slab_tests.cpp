// The slab client sessions are allocated from (session_slab.hpp).
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "session_slab.hpp"

using pgrelay::proxy::fixed_slab;
using pgrelay::proxy::slab_allocator;

TEST_CASE("a slab hands out distinct aligned slots and reuses freed ones first", "[slab]") {
  fixed_slab slab(100, 16);
  std::vector<void*> slots;
  // More than one block's worth, so that carving crosses into a new block.
  for (int i = 0; i < 3000; ++i) slots.push_back(slab.allocate());
  std::set<void*> distinct(slots.begin(), slots.end());
  CHECK(distinct.size() == slots.size());
  for (void* p : slots) CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0);
  // Slots are 112 bytes (100 rounded to the alignment): neighbours in a block never overlap.
  for (std::size_t i = 1; i < 100; ++i) {
    const auto gap = reinterpret_cast<std::uintptr_t>(slots[i]) - reinterpret_cast<std::uintptr_t>(slots[i - 1]);
    CHECK(gap == 112);
  }
  slab.deallocate(slots[7]);
  slab.deallocate(slots[2500]);
  CHECK(slab.allocate() == slots[2500]);
  CHECK(slab.allocate() == slots[7]);
  for (void* p : slots) slab.deallocate(p);
}

namespace {
struct counted {
  explicit counted(int& alive) : alive_(alive) { ++alive_; }
  ~counted() { --alive_; }
  int& alive_;
  char payload[600]{};
};
}  // namespace

TEST_CASE("allocate_shared through the slab constructs, shares and destroys as make_shared does", "[slab]") {
  int alive = 0;
  {
    auto a = std::allocate_shared<counted>(slab_allocator<counted>(), alive);
    std::weak_ptr<counted> w = a;
    auto b = a;
    CHECK(alive == 1);
    a.reset();
    CHECK(alive == 1);
    CHECK_FALSE(w.expired());
    b.reset();
    CHECK(alive == 0);
    CHECK(w.expired());
  }
  std::vector<std::shared_ptr<counted>> many;
  for (int i = 0; i < 1000; ++i) many.push_back(std::allocate_shared<counted>(slab_allocator<counted>(), alive));
  CHECK(alive == 1000);
  many.clear();
  CHECK(alive == 0);
}
