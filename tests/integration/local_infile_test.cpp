// The LOCAL INFILE handler must serve its own in-memory stream and nothing else: a statement naming any
// other file (what a hostile server would ask for) fails, and no file is read from disk.
#include <gtest/gtest.h>

#include <random>

#include "pipeline/local_infile_stream.h"
#include "test_support.h"

namespace enrichd::testing_support {
namespace {

class LocalInfile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
    db_ = connect_test_db();
    ASSERT_TRUE(db_) << "the test database at " << test_dsn() << " is not reachable";
    ASSERT_TRUE(db_->execute("CREATE TABLE `" + table_ + "` (a INT, b VARCHAR(64))"));
    disk_file_ = make_temp_dir("enrichd-infile") + "/on-disk.tsv";
    write_file(disk_file_, "99\tfrom disk\n");
  }
  void TearDown() override {
    if (db_) (void)db_->execute("DROP TABLE IF EXISTS `" + table_ + "`");
  }
  int64_t rows() {
    auto r = db_->query("SELECT COUNT(*) FROM `" + table_ + "`");
    return r ? std::stoll((*r)[0][0]) : -1;
  }
  Status load(const std::string& name) {
    return db_->execute("LOAD DATA LOCAL INFILE '" + name + "' INTO TABLE `" + table_ + "`");
  }

  std::unique_ptr<MysqlConnection> db_;
  std::string table_ = unique_name("infile_");
  std::string disk_file_;
};

TEST_F(LocalInfile, ServesItsOwnStream) {
  const std::string data = "1\tone\n2\ttwo\n3\tthree\n";
  LocalInfileStream stream(db_->handle(), "enrichd-stream-test", data);
  ASSERT_TRUE(load(stream.name())) << load(stream.name()).message();
  EXPECT_EQ(rows(), 3);
}

TEST_F(LocalInfile, RefusesAnyOtherName) {
  const std::string data = "1\tone\n";
  LocalInfileStream stream(db_->handle(), "enrichd-stream-test", data);
  const Status s = load(disk_file_);
  ASSERT_FALSE(s) << "a file on disk was loaded through the stream handler";
  EXPECT_NE(s.message().find("refuses"), std::string::npos) << s.message();
  EXPECT_EQ(rows(), 0);
}

}  // namespace
}  // namespace enrichd::testing_support
