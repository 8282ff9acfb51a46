// Hands items from several workers to one queue in the order the work was given out: batch n+1 never
// reaches the sink before batch n, whichever worker finishes first. The sink relies on it: each load's
// offset ranges must continue where the previous load's ended (the fenced update in exactly-once mode).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

#include "pipeline/bounded_queue.h"

namespace enrichd {

template <typename T>
class OrderedHandoff {
 public:
  explicit OrderedHandoff(BoundedQueue<T>& out) : out_(out) {}

  // Waits until every smaller sequence number was handed over, then pushes `item` (nullopt: nothing for
  // this number, the turn passes on). False once aborted or when the queue refuses the item (closed or
  // aborted). Sequence numbers start at 0 and each is delivered exactly once.
  bool deliver(uint64_t seq, std::optional<T> item) {
    std::unique_lock lock(mu_);
    turn_.wait(lock, [&] { return next_ == seq || aborted_; });
    if (aborted_) return false;
    // Pushing under the lock: the others wait for their turn anyway, and abort() first aborts the queue,
    // which wakes a push blocked on a full queue.
    const bool pushed = !item || out_.push(std::move(*item));
    ++next_;
    if (!pushed) aborted_ = true;
    turn_.notify_all();
    return pushed;
  }

  // Wakes every waiting worker; their deliver() returns false. Abort the queue first.
  void abort() {
    std::lock_guard lock(mu_);
    aborted_ = true;
    turn_.notify_all();
  }

 private:
  BoundedQueue<T>& out_;
  std::mutex mu_;
  std::condition_variable turn_;
  uint64_t next_ = 0;
  bool aborted_ = false;
};

}  // namespace enrichd
