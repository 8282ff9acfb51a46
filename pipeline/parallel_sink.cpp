#include "pipeline/parallel_sink.h"

#include <fmt/format.h>

#include <map>
#include <optional>

namespace enrichd {

Result<std::unique_ptr<ParallelSink>> ParallelSink::open(const SinkConfig& config, const std::string& group,
                                                         const std::string& topic, bool fenced, Spread spread,
                                                         SinkProbe* probe) {
  if (config.connections < 1) return Status::error("config key 'sink.connections' must be at least 1");
  std::vector<Lane> lanes(static_cast<size_t>(config.connections));
  auto first = MemsqlSink::open(config, group, topic, fenced, probe);
  if (!first) return first.status();
  lanes[0].sink = std::move(first).value();
  for (size_t i = 1; i < lanes.size(); ++i) {
    auto sink = lanes[0].sink->open_another();
    if (!sink) return sink.status().with_context(fmt::format("connection {} of {}", i + 1, lanes.size()));
    lanes[i].sink = std::move(sink).value();
  }
  return std::unique_ptr<ParallelSink>(new ParallelSink(std::move(lanes), spread, probe));
}

ParallelSink::~ParallelSink() {
  abort();
  for (Lane& lane : lanes_) {
    if (lane.thread.joinable()) lane.thread.join();
  }
}

void ParallelSink::start(size_t queue_depth, OnLoaded on_loaded, OnFailure on_failure) {
  on_loaded_ = std::move(on_loaded);
  on_failure_ = std::move(on_failure);
  for (Lane& lane : lanes_) lane.queue = std::make_unique<BoundedQueue<LoadJob>>(queue_depth);
  started_ = true;
  for (Lane& lane : lanes_) lane.thread = std::thread([this, &lane] { run_lane(lane); });
}

bool ParallelSink::submit(LoadJob job) {
  if (spread_ == Spread::kRoundRobin || lanes_.size() == 1) {
    Lane& lane = lanes_[next_lane_];
    next_lane_ = (next_lane_ + 1) % lanes_.size();
    return lane.queue->push(std::move(job));
  }
  std::vector<LoadJob> parts(lanes_.size());
  for (PartitionSegment& seg : job.segments) {
    parts[static_cast<uint32_t>(seg.partition) % lanes_.size()].segments.push_back(std::move(seg));
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    // A part refused here is never loaded, so its offsets are never acknowledged: it is read again.
    if (!parts[i].segments.empty() && !lanes_[i].queue->push(std::move(parts[i]))) return false;
  }
  return true;
}

Status ParallelSink::finish() {
  for (Lane& lane : lanes_) {
    if (lane.queue) lane.queue->close();
  }
  for (Lane& lane : lanes_) {
    if (lane.thread.joinable()) lane.thread.join();
  }
  std::lock_guard lock(mu_);
  return failure_;
}

void ParallelSink::abort() {
  if (!started_) return;
  for (Lane& lane : lanes_) lane.queue->abort();
}

void ParallelSink::fail(Status s) {
  {
    std::lock_guard lock(mu_);
    if (!failure_.is_ok()) return;  // the first failure is the one reported
    failure_ = s;
  }
  abort();
  if (on_failure_) on_failure_(s);
}

void ParallelSink::run_lane(Lane& lane) {
  // This connection's partitions whose work up to these epochs was fenced out: dropped before loading.
  std::map<int32_t, uint64_t> stale_through_epoch;
  std::vector<int32_t> fenced_out;
  while (auto job = lane.queue->pop()) {
    std::erase_if(job->segments, [&](const PartitionSegment& seg) {
      auto it = stale_through_epoch.find(seg.partition);
      return it != stale_through_epoch.end() && seg.epoch <= it->second;
    });
    std::map<int32_t, uint64_t> epochs;
    for (const PartitionSegment& seg : job->segments) epochs[seg.partition] = seg.epoch;
    Status loaded;
    {
      std::optional<ScopedTimer> timer;
      if (probe_) timer.emplace(probe_->duration);
      loaded = lane.sink->load(*job, fenced_out);
    }
    if (!loaded) {
      fail(loaded);
      return;
    }
    // Another member loaded these ranges: this member's work on them up to now is void.
    for (int32_t partition : fenced_out) stale_through_epoch[partition] = epochs[partition];
    if (on_loaded_) on_loaded_(*job, fenced_out);
  }
}

}  // namespace enrichd
