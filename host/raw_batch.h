// A batch of raw messages as a source delivers them: payloads laid end to end in one buffer, each followed
// by zero padding so that a SIMD parser may read past its end, plus where each message came from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace enrichd {

struct MessagePosition {
  int32_t partition = 0;
  int64_t offset = 0;
};

// Next offset to consume per partition: what a source commits once the batch is durably loaded.
struct PartitionOffset {
  int32_t partition = 0;
  int64_t next_offset = 0;
  friend bool operator==(const PartitionOffset&, const PartitionOffset&) = default;
};

class RawBatch {
 public:
  // At least simdjson's SIMDJSON_PADDING (checked where the parser is compiled).
  static constexpr size_t kPadding = 64;

  void add(std::string_view payload, MessagePosition position);
  void clear();

  size_t size() const { return positions_.size(); }
  bool empty() const { return positions_.empty(); }
  std::string_view payload(size_t i) const { return {buffer_.data() + begin_[i], length_[i]}; }
  const MessagePosition& position(size_t i) const { return positions_[i]; }
  // Payload bytes, without padding.
  size_t payload_bytes() const { return payload_bytes_; }

  // Highest offset + 1 for every partition present, sorted by partition.
  std::vector<PartitionOffset> next_offsets() const;

 private:
  std::vector<char> buffer_;
  std::vector<size_t> begin_;
  std::vector<uint32_t> length_;
  std::vector<MessagePosition> positions_;
  size_t payload_bytes_ = 0;
};

}  // namespace enrichd
