#include "lowbit/train/checkpoint.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lowbit/core/error.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/presets.hpp"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

struct CkptDir {
  fs::path dir = fs::temp_directory_path() / ("lowbit_ckpt_" + std::to_string(::getpid()));
  CkptDir() { fs::create_directories(dir); }
  ~CkptDir() { fs::remove_all(dir); }
  std::string file(const std::string& n) const { return (dir / n).string(); }
};

train::Checkpoint sample() {
  train::Checkpoint c;
  c.meta = {{"hello", "world"}, {"n", 3}};
  c.tensors.emplace_back("a", Tensor({2, 3}, {1, 2, 3, 4, 5, 6}));
  c.tensors.emplace_back("scalarish", Tensor({1}, {-7.5f}));
  c.tensors.emplace_back("empty", Tensor({0}));
  return c;
}

std::string error_reading(const std::string& path) {
  try {
    train::read_checkpoint(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Checkpoint, RoundTrip) {
  CkptDir d;
  write_checkpoint(d.file("x.ckpt"), sample());
  auto c = train::read_checkpoint(d.file("x.ckpt"));
  EXPECT_EQ(c.meta, sample().meta);
  ASSERT_EQ(c.tensors.size(), 3u);
  EXPECT_EQ(c.find("a")->shape(), (Shape{2, 3}));
  EXPECT_EQ((*c.find("a"))[5], 6.f);
  EXPECT_EQ((*c.find("scalarish"))[0], -7.5f);
  EXPECT_EQ(c.find("nope"), nullptr);
}

TEST(Checkpoint, RejectsTruncatedCorruptWrongMagicAndVersion) {
  CkptDir d;
  std::string good = d.file("good.ckpt");
  write_checkpoint(good, sample());
  auto bytes = read_file(good);

  for (size_t cut : {size_t(0), size_t(4), size_t(20), bytes.size() / 2, bytes.size() - 1}) {
    std::vector<uint8_t> t(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    write_file_atomic(d.file("t.ckpt"), t);
    std::string e = error_reading(d.file("t.ckpt"));
    EXPECT_NE(e.find("t.ckpt"), std::string::npos) << "cut " << cut << ": " << e;
  }
  auto flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  write_file_atomic(d.file("c.ckpt"), flipped);
  EXPECT_NE(error_reading(d.file("c.ckpt")).find("CRC"), std::string::npos);

  auto magic = bytes;
  magic[0] = 'X';
  write_file_atomic(d.file("m.ckpt"), magic);
  EXPECT_NE(error_reading(d.file("m.ckpt")).find("not a lowbit checkpoint"), std::string::npos);

  auto version = bytes;
  version[8] = 99;
  write_file_atomic(d.file("v.ckpt"), version);
  EXPECT_NE(error_reading(d.file("v.ckpt")).find("version 99"), std::string::npos);

  EXPECT_NE(error_reading(d.file("missing.ckpt")).find("missing.ckpt"), std::string::npos);
}

TEST(Checkpoint, ModelTensorsRoundTripAndMismatchIsAnError) {
  auto m = nn::build_model(nn::preset_topology("tfc", {}));
  m->init(5);
  train::Checkpoint c;
  add_model_tensors(*m, c);
  auto m2 = nn::build_model(nn::preset_topology("tfc", {}));
  m2->init(6);
  load_model_tensors(*m2, c, "mem");
  auto p1 = m->named_params(), p2 = m2->named_params();
  ASSERT_EQ(p1.size(), p2.size());
  for (size_t i = 0; i < p1.size(); ++i)
    for (int64_t j = 0; j < p1[i].param->value.size(); ++j) ASSERT_EQ(p1[i].param->value[j], p2[i].param->value[j]);
  auto other = nn::build_model(nn::preset_topology("sfc", {}));
  EXPECT_THROW(load_model_tensors(*other, c, "mem"), Error);
}

}  // namespace
}  // namespace lowbit
