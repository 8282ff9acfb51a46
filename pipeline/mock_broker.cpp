#include "pipeline/mock_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace enrichd {

Result<std::unique_ptr<MockBroker>> MockBroker::start(int broker_count) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The mock cluster needs a client handle for its bookkeeping; a quiet producer serves.
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return Status::errorf("mock broker: {}", err);
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, broker_count);
  if (!cluster) {
    rd_kafka_destroy(rk);
    return Status::error("mock broker: could not create the mock cluster");
  }
  return std::unique_ptr<MockBroker>(new MockBroker(rk, cluster));
}

MockBroker::~MockBroker() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(rk_);
}

Status MockBroker::create_topic(const std::string& topic, int partitions) {
  const rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::errorf("mock broker: create topic '{}': {}", topic, rd_kafka_err2str(e));
  }
  return Status::ok();
}

std::string MockBroker::bootstrap_servers() const {
  return rd_kafka_mock_cluster_bootstraps(cluster_);
}

}  // namespace enrichd
