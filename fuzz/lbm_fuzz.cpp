// Fuzz target for the .lbm readers: the container and the model description (the IR) in
// it. Built two ways (CMakeLists.txt):
//   lbm_libfuzzer  clang -fsanitize=fuzzer,address,undefined (libFuzzer's own main)
//   lbm_fuzz       any compiler, with fuzz/fuzz_driver.cpp as main (seeds + mutations)
//
// Contract under test: LbmFile::parse on any bytes either returns a file or throws
// lowbit::Error. Any other exception, a crash or a sanitizer report is a bug. A file that
// parses must also survive every accessor and re-encode to a file with the same sections.
// Then format::read_model_desc on it either returns a description or throws lowbit::Error;
// a description it returns must pass validate() and write a file that reads back equal,
// dense and with compressed weights (WeightCoding::kAuto).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "lowbit/core/error.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/format/model_desc.hpp"

using lowbit::format::LbmFile;
using lowbit::format::LbmSection;
using lowbit::format::LbmWriter;
using lowbit::format::SectionKind;

namespace {

// Throws std::logic_error (never lowbit::Error, so it counts as a bug) when `cond` fails.
void require(bool cond, const char* what) {
  if (!cond) throw std::logic_error(what);
}

void check_accepted(const LbmFile& f, size_t size) {
  uint64_t sum = 0;
  for (const LbmSection& s : f.sections()) {
    require(reinterpret_cast<uintptr_t>(s.data) % lowbit::format::kLbmAlign == 0, "unaligned section data");
    require(s.size <= size, "section larger than the file");
    for (uint64_t i = 0; i < s.size; ++i) sum += s.data[i];  // every byte readable (ASan)
    require(f.find(s.name) == &s, "find() does not return the section");
    require(&f.get(s.name, s.kind) == &s, "get() does not return the section");
    if (s.kind == SectionKind::kJson) require(f.json_text(s.name).size() == s.size, "json_text size");
  }
  (void)sum;
  // Re-encode: the writer must accept everything the reader accepted, and the result must
  // read back with the same sections.
  LbmWriter w;
  for (const LbmSection& s : f.sections()) {
    if (s.kind == SectionKind::kJson)
      w.add_json(s.name, f.json_text(s.name));
    else
      w.add_blob(s.name, s.data, s.size);
  }
  std::vector<uint8_t> again = w.bytes();
  LbmFile g = LbmFile::parse(again.data(), again.size(), "re-encoded");
  require(g.sections().size() == f.sections().size(), "re-encoded section count differs");
  for (size_t i = 0; i < f.sections().size(); ++i) {
    const LbmSection& a = f.sections()[i];
    const LbmSection& b = g.sections()[i];
    require(a.name == b.name && a.kind == b.kind && a.size == b.size, "re-encoded section differs");
    require(a.size == 0 || std::memcmp(a.data, b.data, a.size) == 0, "re-encoded data differs");
  }
}

bool same_desc(const lowbit::format::ModelDesc& a, const lowbit::format::ModelDesc& b) {
  if (a.name != b.name || a.input.shape != b.input.shape || !(a.input.codes == b.input.codes) ||
      a.input.table != b.input.table || a.layers.size() != b.layers.size())
    return false;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const auto &x = a.layers[i], &y = b.layers[i];
    if (x.kind != y.kind || x.in_h != y.in_h || x.in_w != y.in_w || x.in_c != y.in_c || x.out != y.out ||
        x.kernel_h != y.kernel_h || x.kernel_w != y.kernel_w || x.stride != y.stride || x.pad_h != y.pad_h ||
        x.pad_w != y.pad_w || x.pad_value != y.pad_value || x.pool.kernel != y.pool.kernel ||
        x.pool.stride != y.pool.stride || x.sum_pool.kernel != y.sum_pool.kernel ||
        x.sum_pool.stride != y.sum_pool.stride || !(x.input == y.input) || !(x.output == y.output) ||
        x.weights != y.weights || x.negated != y.negated ||
        x.thresholds != y.thresholds || x.levels != y.levels || x.scores != y.scores ||
        x.score.scale != y.score.scale || x.score.bias != y.score.bias || x.score.bn_mean != y.score.bn_mean)
      return false;
  }
  return true;
}

// A description the reader accepted is valid, and survives writing and reading back.
void check_description(const lowbit::format::ModelDesc& d) {
  try {
    lowbit::format::validate(d);
  } catch (const lowbit::Error& e) {
    throw std::logic_error(std::string("read_model_desc returned a description validate() refuses: ") + e.what());
  }
  std::vector<uint8_t> again;
  try {
    again = lowbit::format::model_desc_bytes(d);
  } catch (const lowbit::Error& e) {
    throw std::logic_error(std::string("an accepted description does not write: ") + e.what());
  }
  const LbmFile g = LbmFile::parse(again.data(), again.size(), "re-written");
  require(same_desc(lowbit::format::read_model_desc(g), d), "a re-written description reads back different");
  // And with compressed weights (rle / huffman where smaller): the encoders on fuzzed codes.
  lowbit::format::WriteOptions wo;
  wo.weights = lowbit::format::WeightCoding::kAuto;
  try {
    again = lowbit::format::model_desc_bytes(d, wo);
  } catch (const lowbit::Error& e) {
    throw std::logic_error(std::string("an accepted description does not write compressed: ") + e.what());
  }
  const LbmFile h = LbmFile::parse(again.data(), again.size(), "re-written compressed");
  require(same_desc(lowbit::format::read_model_desc(h), d), "a description re-written compressed reads back different");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Small limits so that the fuzzer also reaches the limit checks.
  lowbit::format::LbmLimits limits;
  limits.max_file_bytes = 1 << 20;
  limits.max_sections = 256;
  LbmFile f;
  try {
    f = LbmFile::parse(data, size, "fuzz.lbm", limits);
  } catch (const lowbit::Error&) {
    return 0;  // rejected cleanly
  }
  check_accepted(f, size);  // outside the try: any error here is a bug
  if (!f.find("model")) return 0;
  lowbit::format::ModelDesc d;
  try {
    d = lowbit::format::read_model_desc(f);
  } catch (const lowbit::Error&) {
    return 0;  // rejected cleanly
  }
  check_description(d);
  return 0;
}
