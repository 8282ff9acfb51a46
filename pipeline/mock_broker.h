// An embedded Kafka cluster: librdkafka's mock cluster, which speaks the real Kafka protocol over TCP on
// 127.0.0.1, so any Kafka client can produce to and consume from it. It keeps only about 5 MB per
// partition: produce in step with consumption.
#pragma once

#include <memory>
#include <string>

#include "host/status.h"

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace enrichd {

class MockBroker {
 public:
  static Result<std::unique_ptr<MockBroker>> start(int broker_count = 1);
  ~MockBroker();
  MockBroker(const MockBroker&) = delete;
  MockBroker& operator=(const MockBroker&) = delete;

  Status create_topic(const std::string& topic, int partitions);
  // "127.0.0.1:port[,...]" for bootstrap.servers.
  std::string bootstrap_servers() const;

 private:
  MockBroker(rd_kafka_s* rk, rd_kafka_mock_cluster_s* cluster) : rk_(rk), cluster_(cluster) {}
  rd_kafka_s* rk_;
  rd_kafka_mock_cluster_s* cluster_;
};

}  // namespace enrichd
