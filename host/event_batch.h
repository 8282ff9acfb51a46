// EventBatch: a batch of parsed events as a structure of arrays, the unit every stage after parsing
// works on. Strings live in per-column arenas; enrichment results are columns too.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "host/event_schema.h"
#include "host/ip_address.h"
#include "host/raw_batch.h"

namespace enrichd {

// A column of strings in one arena: row i is bytes [offsets[i], offsets[i+1]) of it. The parser appends
// four strings per event, mostly short, so the copy is inline (libc's memcpy call was ~4 % of the parse);
// the arena's vector is sized ahead (its size is the capacity, `used_` the bytes in use), so growing it
// zero-fills new room once, not every append.
class StringColumn {
 public:
  StringColumn() { offsets_.push_back(0); }
  [[gnu::always_inline]] void push_back(std::string_view s) {
    const size_t n = s.size();
    if (n > arena_.size() - used_) arena_.resize(std::max(2 * arena_.size(), used_ + n + 64));
    copy_bytes(arena_.data() + used_, s.data(), n);
    used_ += n;
    offsets_.push_back(static_cast<uint32_t>(used_));
  }
  std::string_view operator[](size_t i) const {
    return {arena_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]};
  }
  size_t size() const { return offsets_.size() - 1; }
  void clear() {
    used_ = 0;
    offsets_.assign(1, 0);
  }

 private:
  // memcpy for short strings without the call: overlapping word copies, never past either end.
  static void copy_bytes(char* dst, const char* src, size_t n) {
    const auto copy = [&](size_t at, auto word) {
      std::memcpy(&word, src + at, sizeof word);
      std::memcpy(dst + at, &word, sizeof word);
    };
    if (n >= 16) {
      if (n > 64) {
        std::memcpy(dst, src, n);
        return;
      }
      for (size_t i = 0; i + 16 < n; i += 16) {
        copy(i, uint64_t{});
        copy(i + 8, uint64_t{});
      }
      copy(n - 16, uint64_t{});
      copy(n - 8, uint64_t{});
    } else if (n >= 8) {
      copy(0, uint64_t{});
      copy(n - 8, uint64_t{});
    } else if (n >= 4) {
      copy(0, uint32_t{});
      copy(n - 4, uint32_t{});
    } else if (n > 0) {
      dst[0] = src[0];
      dst[n / 2] = src[n / 2];
      dst[n - 1] = src[n - 1];
    }
  }

  std::vector<char> arena_;
  size_t used_ = 0;
  std::vector<uint32_t> offsets_;
};

// A pass-through column ([[schema.extra]]): the values of one type, indexed like the input columns.
struct ExtraColumn {
  ExtraType type = ExtraType::kString;
  // u64, i64 (two's complement), f64 (bit pattern), timestamp (epoch milliseconds in [0, kMaxTimestampMs],
  // as int64_t), enum (the code: the index in the dictionary, kUnknownEnumCode for a kept unknown value);
  // 0 for strings and IPs.
  std::vector<uint64_t> bits;
  StringColumn str;              // string, enum ("" for the other types)
  std::vector<IpAddress> ip;     // ip only (IpAddress{} where NULL); empty for the other types
  std::vector<uint8_t> present;  // 0: NULL
  void clear() {
    bits.clear();
    str.clear();
    ip.clear();
    present.clear();
  }
};

// "No record": a geo lookup outside every range, or a join key absent from the table.
inline constexpr uint32_t kNoRecord = UINT32_MAX;

// Event times outside [0, kMaxTimestampMs] cannot be stored (DATETIME ends at 9999-12-31 23:59:59.999).
inline constexpr int64_t kMaxTimestampMs = 253402300799999;

struct EventBatch {
  // Input columns (the default Pinterest-style engagement schema).
  std::vector<uint64_t> event_id;
  std::vector<int64_t> ts_ms;  // event time, epoch milliseconds
  std::vector<uint64_t> user_id;
  std::vector<uint64_t> pin_id;
  StringColumn action;
  std::vector<IpAddress> ip;
  StringColumn app;
  StringColumn ua;
  std::vector<MessagePosition> position;  // where each event came from
  // The enum codes of action and app (their index in the schema's dictionary, kUnknownEnumCode for a
  // value kept although not in it); empty when the column has no dictionary.
  std::vector<uint16_t> action_code;
  std::vector<uint16_t> app_code;
  // The pass-through columns of the schema (EventSchema::extra), in its order; sized by the parser.
  std::vector<ExtraColumn> extra;

  // Rows that passed the filter, ascending; stages after the filter only look at these.
  std::vector<uint32_t> selected;

  // Enrichment outputs, indexed like the input columns (kNoRecord where absent or not selected).
  std::vector<uint32_t> geo_record;
  std::vector<uint32_t> category_id;
  // The ids of the joins configured after the category join ([[enrich.join]]), one column per join,
  // each indexed like the input columns; written by the pipeline's join step, not the parser.
  std::vector<std::vector<uint32_t>> join_id;

  size_t size() const { return event_id.size(); }
  // Room for `rows` more events in the fixed-width input columns.
  void reserve_more(size_t rows);
  void clear();
  // Marks every row as selected (what the parser leaves behind before the filter runs).
  void select_all();
};

}  // namespace enrichd
