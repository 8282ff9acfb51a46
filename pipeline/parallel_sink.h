// K database connections loading side by side (`sink.connections`). A job is split by partition, and a
// partition always goes through the same connection (partition mod K), in the order its jobs came: so
// each partition's offset ranges still commit one after another, each fenced on where the previous one
// ended, exactly as with one connection. Every connection has its own thread, a bounded queue in front of
// it (backpressure: submit() blocks while that queue is full) and its own transaction per job holding its
// partitions' rows, dead letters and fenced offset updates; a failed try rolls back and retries with
// backoff on that connection alone (MemsqlSink::load).
//
// Rebalances need nothing more than with one connection: work of a revoked partition still queued or in
// flight is loaded, and its fenced offset update fails if the new owner got there first; the partition
// is then reported fenced out and later work of the same position epoch is dropped before loading.
//
// A replay without offsets (a file source, the benchmark) has no partition order to keep: its jobs go
// whole to the connections in turn.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "host/status.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/config.h"
#include "pipeline/load_job.h"
#include "pipeline/memsql_sink.h"
#include "pipeline/probes.h"

namespace enrichd {

class ParallelSink {
 public:
  // Called on a connection's thread after each commit, in that connection's job order, with what was
  // committed (`job`, less the partitions fenced out) and the partitions fenced out (another member
  // loaded them first). Calls from different connections may overlap.
  using OnLoaded = std::function<void(const LoadJob& job, const std::vector<int32_t>& fenced_out)>;
  // Called once, on the failing connection's thread, when a job failed every try.
  using OnFailure = std::function<void(const Status&)>;

  enum class Spread {
    kByPartition,  // each partition to connection (partition mod K): offsets commit in order
    kRoundRobin,   // whole jobs to the connections in turn: only for a source without offsets
  };

  // Opens config.connections connections: the first creates and checks the tables (MemsqlSink::open),
  // the others only connect. Errors name sink.dsn. `probe` (optional) also gets the load durations.
  static Result<std::unique_ptr<ParallelSink>> open(const SinkConfig& config, const std::string& group,
                                                    const std::string& topic, bool fenced, Spread spread,
                                                    SinkProbe* probe = nullptr);
  ~ParallelSink();  // aborts and joins, if finish() was not called

  size_t connections() const { return lanes_.size(); }
  const MysqlDsn& dsn() const { return lanes_.front().sink->dsn(); }

  // Starts one thread per connection, each with a queue of `queue_depth` job parts.
  void start(size_t queue_depth, OnLoaded on_loaded, OnFailure on_failure);
  // Splits `job` by connection and queues the parts, blocking while a queue is full. False once a
  // connection failed or abort() was called (the job is then dropped, never acknowledged). Called from
  // one thread only. What is held is bounded: per connection, its queue and the job it is loading.
  bool submit(LoadJob job);
  // Lets every connection load and commit what is queued, then joins the threads. Returns the first
  // failure (after which the other connections stopped once their load in progress ended).
  Status finish();
  // Drops what is queued; loads in progress end (commit or give up) before finish() returns.
  void abort();

 private:
  struct Lane {
    std::unique_ptr<MemsqlSink> sink;
    std::unique_ptr<BoundedQueue<LoadJob>> queue;
    std::thread thread;
  };
  ParallelSink(std::vector<Lane> lanes, Spread spread, SinkProbe* probe)
      : lanes_(std::move(lanes)), spread_(spread), probe_(probe) {}
  void run_lane(Lane& lane);
  void fail(Status s);

  std::vector<Lane> lanes_;
  Spread spread_;
  SinkProbe* probe_;
  size_t next_lane_ = 0;  // kRoundRobin: where the next job goes
  OnLoaded on_loaded_;
  OnFailure on_failure_;
  std::mutex mu_;
  Status failure_;
  bool started_ = false;
};

}  // namespace enrichd
