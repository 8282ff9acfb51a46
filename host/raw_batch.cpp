#include "host/raw_batch.h"

#include <algorithm>
#include <map>

namespace enrichd {

void RawBatch::add(std::string_view payload, MessagePosition position) {
  begin_.push_back(buffer_.size());
  length_.push_back(static_cast<uint32_t>(payload.size()));
  positions_.push_back(position);
  buffer_.insert(buffer_.end(), payload.begin(), payload.end());
  buffer_.insert(buffer_.end(), kPadding, '\0');
  payload_bytes_ += payload.size();
}

void RawBatch::clear() {
  buffer_.clear();
  begin_.clear();
  length_.clear();
  positions_.clear();
  payload_bytes_ = 0;
}

std::vector<PartitionOffset> RawBatch::next_offsets() const {
  std::map<int32_t, int64_t> next;
  for (const auto& p : positions_) {
    auto [it, inserted] = next.try_emplace(p.partition, p.offset + 1);
    if (!inserted) it->second = std::max(it->second, p.offset + 1);
  }
  std::vector<PartitionOffset> out;
  out.reserve(next.size());
  for (const auto& [partition, offset] : next) out.push_back({partition, offset});
  return out;
}

}  // namespace enrichd
