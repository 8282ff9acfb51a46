#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "pipeline/cli/commands.h"
#include "pipeline/mock_broker.h"
#include "pipeline/shutdown_signal.h"

namespace enrichd::cli {
namespace {

struct BrokerOptions {
  int brokers = 1;
  int partitions = 4;
  std::vector<std::string> topics{"engagements"};
  std::string address_file;
};

int run(const BrokerOptions& o) {
  const auto& stop = install_shutdown_handlers();
  auto broker = MockBroker::start(o.brokers);
  if (!broker) {
    spdlog::error("{}", broker.status().message());
    return kExitFailure;
  }
  for (const auto& topic : o.topics) {
    if (Status s = (*broker)->create_topic(topic, o.partitions); !s) {
      spdlog::error("{}", s.message());
      return kExitFailure;
    }
  }
  const std::string address = (*broker)->bootstrap_servers();
  if (!o.address_file.empty()) {
    // Written to a temporary name and renamed, so a reader never sees half an address.
    const std::string tmp = o.address_file + ".tmp";
    std::ofstream(tmp) << address << '\n';
    std::rename(tmp.c_str(), o.address_file.c_str());
  }
  std::cout << address << std::endl;
  spdlog::info(
      "embedded Kafka broker (librdkafka mock cluster) at {}, topic(s) with {} partitions; "
      "Ctrl-C to stop",
      address, o.partitions);
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("broker stopped");
  return kExitOk;
}

}  // namespace

void add_broker_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<BrokerOptions>();
  CLI::App* cmd = app.add_subcommand("broker", "Start an embedded Kafka broker for demos and tests");
  cmd->footer(
      "librdkafka's mock cluster speaks the real Kafka protocol over TCP on 127.0.0.1; any Kafka client can "
      "use\n"
      "it. It keeps only about 5 MB per partition, so produce in step with consumption. Prints the "
      "bootstrap\n"
      "address on stdout and runs until SIGINT/SIGTERM.");
  cmd->add_option("--partitions", o->partitions, "Partitions per topic")->check(CLI::Range(1, 1024));
  cmd->add_option("--topic", o->topics, "Topic to create (repeatable)")->capture_default_str();
  cmd->add_option("--brokers", o->brokers, "Brokers in the cluster")->check(CLI::Range(1, 16));
  cmd->add_option("--address-file", o->address_file, "Also write the bootstrap address to this file");
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

}  // namespace enrichd::cli
