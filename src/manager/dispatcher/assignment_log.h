// AssignmentLog: for one node, which of its tasks changed at which
// generation, so the dispatcher answers a long poll with only what changed
// since the generation the agent holds (SwarmKit's incremental assignments)
// instead of the node's whole task set each time.
//
// Generations start at 1 and grow by one per recorded change. Removals are
// kept as tombstones; once there are many more of them than live tasks the
// oldest are forgotten, and an agent asking from before that point gets the
// whole set again. Not thread-safe (the dispatcher holds its lock).
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace shoal::dispatcher {

class AssignmentLog {
 public:
  // Task `id` is assigned to the node and changed (added, or its desired
  // state moved). Returns the new generation.
  uint64_t changed(const std::string& id);
  // Task `id` is no longer assigned to the node. Returns the new generation.
  uint64_t removed(const std::string& id);
  // The node's network view changed. Returns the new generation.
  uint64_t network_view_changed() { return net_gen_ = ++gen_; }
  uint64_t generation() const { return gen_; }
  uint64_t network_generation() const { return net_gen_; }  // of the last network view change

  struct Delta {
    bool full = false;                 // `changed` is every assigned task
    std::vector<std::string> changed;  // ids to send whole
    std::vector<std::string> removed;  // ids the agent must drop
    bool network_view = false;         // the network view changed after `since` (or full)
  };
  // What an agent holding generation `since` needs to reach generation().
  // since == 0, or older than the oldest tombstone kept: the full set.
  Delta since(uint64_t since) const;

  // Tombstones kept beyond the number of live tasks before the oldest go.
  static constexpr size_t kSpareTombstones = 64;

 private:
  uint64_t gen_ = 1;
  uint64_t floor_ = 0;  // tombstones up to this generation were forgotten
  uint64_t net_gen_ = 0;  // generation of the last network view change
  std::unordered_map<std::string, uint64_t> live_;       // task -> generation of its last change
  std::deque<std::pair<uint64_t, std::string>> removed_;  // (generation, task), oldest first
};

}  // namespace shoal::dispatcher
