// A process-wide counter that names each distinct content of a lookup table. Views carry it so that a
// consumer keeping a derived copy (the CUDA backend's device tables) can tell "the same table" from
// "another table at the same addresses", which addresses, sizes and sampled entries cannot: a table
// changed in place, or a reloaded one allocated where a freed one was.
#pragma once

#include <atomic>
#include <cstdint>

namespace enrichd {

// Never 0 (0 marks a view built by hand, which has no generation).
inline uint64_t next_table_generation() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace enrichd
