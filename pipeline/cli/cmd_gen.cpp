#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "pipeline/cli/commands.h"
#include "pipeline/synthetic_data.h"

namespace enrichd::cli {
namespace {

struct EventsOptions {
  EventGenOptions gen;
  uint64_t count = 10'000;
  std::string brokers, topic;
  uint64_t rate = 0;
};

// Writes `path` ("-" for stdout) with `write`, reporting I/O errors.
template <typename Fn>
int write_output(const std::string& path, Fn&& write) {
  if (path == "-") {
    write(std::cout);
    std::cout.flush();
    return std::cout ? kExitOk : kExitFailure;
  }
  std::ofstream out(path);
  if (!out) {
    spdlog::error("cannot write '{}'", path);
    return kExitFailure;
  }
  write(out);
  out.close();
  if (!out) {
    spdlog::error("error writing '{}'", path);
    return kExitFailure;
  }
  return kExitOk;
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  if (m->err) {
    auto* failures = static_cast<uint64_t*>(opaque);
    if ((*failures)++ < 10) spdlog::error("delivery failed: {}", rd_kafka_err2str(m->err));
  }
}

int produce(const EventsOptions& o, EventGenerator& gen) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  uint64_t failures = 0;
  if (rd_kafka_conf_set(conf, "bootstrap.servers", o.brokers.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err) != RD_KAFKA_CONF_OK) {
    spdlog::error("--brokers: {}", err);
    rd_kafka_conf_destroy(conf);
    return kExitFailure;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &failures);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    spdlog::error("kafka producer: {}", err);
    rd_kafka_conf_destroy(conf);
    return kExitFailure;
  }
  rd_kafka_topic_t* topic = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
  constexpr int32_t kAnyPartition = -1;  // RD_KAFKA_PARTITION_UA, without the macro's C cast
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < o.count; ++i) {
    if (o.rate > 0) {
      const auto due = start + std::chrono::microseconds(i * 1'000'000 / o.rate);
      std::this_thread::sleep_until(due);
    }
    std::string msg = gen.next();
    for (;;) {
      const rd_kafka_resp_err_t e = rd_kafka_produce(topic, kAnyPartition, RD_KAFKA_MSG_F_COPY, msg.data(),
                                                     msg.size(), nullptr, 0, nullptr) == 0
                                        ? RD_KAFKA_RESP_ERR_NO_ERROR
                                        : rd_kafka_last_error();
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 50);
        continue;
      }
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::error("produce to '{}': {}", o.topic, rd_kafka_err2str(e));
        rd_kafka_topic_destroy(topic);
        rd_kafka_destroy(rk);
        return kExitFailure;
      }
      break;
    }
    rd_kafka_poll(rk, 0);
  }
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(rk, 60'000);
  rd_kafka_topic_destroy(topic);
  rd_kafka_destroy(rk);
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR || failures > 0) {
    spdlog::error("{} of {} events not delivered to '{}' at {}", failures, o.count, o.topic, o.brokers);
    return kExitFailure;
  }
  spdlog::info("produced {} events ({} deliberately broken) to '{}' at {}", o.count, gen.bad_count(), o.topic,
               o.brokers);
  return kExitOk;
}

int run_events(const EventsOptions& o) {
  EventGenerator gen(o.gen);
  if (!o.brokers.empty() || !o.topic.empty()) {
    if (o.brokers.empty() || o.topic.empty()) {
      spdlog::error("--brokers and --topic go together (or neither, to write JSON lines to stdout)");
      return kExitFailure;
    }
    return produce(o, gen);
  }
  return write_output("-", [&](std::ostream& out) {
    for (uint64_t i = 0; i < o.count; ++i) out << gen.next() << '\n';
  });
}

}  // namespace

void add_gen_command(CLI::App& app, Action& action) {
  CLI::App* gen =
      app.add_subcommand("gen", "Generate deterministic synthetic data (events, geo, categories)");
  gen->require_subcommand(1);

  auto ev = std::make_shared<EventsOptions>();
  CLI::App* events =
      gen->add_subcommand("events", "Engagement events as JSON lines on stdout, or to a topic");
  events->add_option("-n,--count", ev->count, "Number of events")->capture_default_str();
  events->add_option("--seed", ev->gen.seed, "Random seed")->capture_default_str();
  events->add_option("--first-id", ev->gen.first_event_id, "event_id of the first event")
      ->capture_default_str();
  events->add_option("--users", ev->gen.users, "Distinct user ids")->capture_default_str();
  events->add_option("--pins", ev->gen.pins, "Pins in the category table (ids drawn from 1..pins*5/4)")
      ->capture_default_str();
  events->add_option("--ipv6-ratio", ev->gen.ipv6_ratio, "Share of IPv6 addresses")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  events->add_option("--bad-ratio", ev->gen.bad_ratio, "Share of deliberately broken messages")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  events->add_option("--brokers", ev->brokers, "Produce to Kafka at these bootstrap servers");
  events->add_option("--topic", ev->topic, "Topic to produce to");
  events->add_option("--rate", ev->rate, "Events per second when producing (0: as fast as possible)");
  events->callback([&action, ev] { action = [ev] { return run_events(*ev); }; });

  auto geo_opts = std::make_shared<GeoGenOptions>();
  auto geo_out = std::make_shared<std::string>("-");
  CLI::App* geo =
      gen->add_subcommand("geo", "Geo ranges as CSV: start,end,country_code,region,city,lat,lon,tz");
  geo->add_option("--v4-ranges", geo_opts->v4_ranges, "IPv4 ranges")->capture_default_str();
  geo->add_option("--v6-ranges", geo_opts->v6_ranges, "IPv6 ranges")->capture_default_str();
  geo->add_option("--seed", geo_opts->seed, "Random seed")->capture_default_str();
  geo->add_option("-o,--output", *geo_out, "Output file, - for stdout")->capture_default_str();
  geo->callback([&action, geo_opts, geo_out] {
    action = [geo_opts, geo_out] {
      return write_output(*geo_out, [&](std::ostream& out) { write_geo_csv(out, *geo_opts); });
    };
  });

  auto cat_opts = std::make_shared<CategoryGenOptions>();
  auto pins_out = std::make_shared<std::string>();
  auto names_out = std::make_shared<std::string>();
  CLI::App* cats = gen->add_subcommand("categories", "Category tables as CSV: pin_id,category_id and names");
  cats->add_option("--pins", cat_opts->pins, "Pins (ids 1..N)")->capture_default_str();
  cats->add_option("--categories", cat_opts->categories, "Categories")->capture_default_str();
  cats->add_option("--pins-out", *pins_out, "Output file for pin_id,category_id")->required();
  cats->add_option("--names-out", *names_out, "Output file for category_id,name")->required();
  cats->callback([&action, cat_opts, pins_out, names_out] {
    action = [cat_opts, pins_out, names_out] {
      const int rc =
          write_output(*pins_out, [&](std::ostream& out) { write_pin_categories_csv(out, *cat_opts); });
      if (rc != kExitOk) return rc;
      return write_output(*names_out, [&](std::ostream& out) { write_category_names_csv(out, *cat_opts); });
    };
  });
}

}  // namespace enrichd::cli
