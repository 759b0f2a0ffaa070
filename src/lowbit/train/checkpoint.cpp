#include "lowbit/train/checkpoint.hpp"

#include <cstring>
#include <set>

#include "lowbit/core/bytes.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/core/file_kind.hpp"
#include "lowbit/core/file_io.hpp"
#include "lowbit/nn/builder.hpp"
#include "lowbit/nn/pruning.hpp"

namespace lowbit::train {

namespace {
constexpr char kMagic[8] = {'L', 'O', 'W', 'B', 'I', 'T', 'C', 'K'};
constexpr uint32_t kMaxRank = 8;
}  // namespace

const Tensor* Checkpoint::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

std::vector<uint8_t> encode_checkpoint(const Checkpoint& ckpt) {
  ByteWriter w;
  w.append(kMagic, sizeof kMagic);
  w.put<uint32_t>(kCheckpointVersion);
  w.put<uint32_t>(0);
  std::string meta = ckpt.meta.dump();
  w.put<uint64_t>(meta.size());
  w.append(meta.data(), meta.size());
  w.put<uint32_t>(static_cast<uint32_t>(ckpt.tensors.size()));
  for (const auto& [name, t] : ckpt.tensors) {
    w.put_string(name);
    w.put<uint32_t>(static_cast<uint32_t>(t.rank()));
    for (int64_t d : t.shape()) w.put<int64_t>(d);
    w.append(t.data(), sizeof(float) * static_cast<size_t>(t.size()));
  }
  w.put<uint32_t>(crc32(w.bytes().data(), w.size()));
  return std::move(w.bytes());
}

void write_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  write_file_atomic(path, encode_checkpoint(ckpt));
}

Checkpoint read_checkpoint(const std::string& path) { return decode_checkpoint(read_file(path), path); }

Checkpoint decode_checkpoint(const std::vector<uint8_t>& bytes, const std::string& path) {
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "\x89LBM", 4) == 0)
    fail(path, ": a deployment model (.lbm), not a training checkpoint (.ckpt); `lowbit run` and `lowbit summary` take it");
  if (bytes.empty()) fail(path, ": empty file (not a lowbit checkpoint)");
  if (looks_like_onnx(bytes.data(), bytes.size()))
    fail(path, ": an ONNX model, not a lowbit checkpoint (.ckpt); a QONNX file is read by `lowbit import ", path,
         " -o model.lbm`");
  if (bytes.size() < sizeof kMagic + 4 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    fail(path, ": not a lowbit checkpoint (bad magic)");
  if (bytes.size() < sizeof kMagic + 8 + 8 + 4 + 4) fail(path, ": truncated checkpoint (", bytes.size(), " bytes)");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  ByteReader r(bytes.data(), bytes.size() - 4, path);
  r.take(sizeof kMagic, "magic");
  uint32_t version = r.get<uint32_t>("version");
  if (version != kCheckpointVersion)
    fail(path, ": checkpoint format version ", version, " is not supported (this build reads version ",
         kCheckpointVersion, ")");
  if (crc32(bytes.data(), bytes.size() - 4) != stored_crc)
    fail(path, ": checkpoint is corrupted or truncated (CRC mismatch)");
  r.get<uint32_t>("flags");
  uint64_t meta_len = r.get<uint64_t>("metadata length");
  if (meta_len > r.remaining()) fail(path, ": metadata length ", meta_len, " exceeds file size");
  const uint8_t* meta = r.take(static_cast<size_t>(meta_len), "metadata");
  Checkpoint ckpt;
  try {
    ckpt.meta = json::parse(meta, meta + meta_len);
  } catch (const json::parse_error& e) {
    fail(path, ": metadata is not valid JSON (", e.what(), ")");
  }
  uint32_t count = r.get<uint32_t>("tensor count");
  for (uint32_t i = 0; i < count; ++i) {
    std::string name = r.get_string("tensor name", 4096);
    uint32_t rank = r.get<uint32_t>("tensor rank");
    if (rank > kMaxRank) fail(path, ": tensor '", name, "' has rank ", rank, " (corrupt file?)");
    Shape shape(rank);
    uint64_t numel = 1;
    for (auto& d : shape) {
      d = r.get<int64_t>("tensor dimension");
      if (d < 0 || static_cast<uint64_t>(d) > r.remaining()) fail(path, ": tensor '", name, "' has bad dimension ", d);
      numel *= static_cast<uint64_t>(d);
      if (numel * sizeof(float) > r.remaining()) fail(path, ": tensor '", name, "' is larger than the file");
    }
    const uint8_t* data = r.take(static_cast<size_t>(numel) * sizeof(float), "tensor data");
    Tensor t(shape);
    if (numel) std::memcpy(t.data(), data, static_cast<size_t>(numel) * sizeof(float));
    ckpt.tensors.emplace_back(std::move(name), std::move(t));
  }
  if (r.remaining() != 0) fail(path, ": ", r.remaining(), " unexpected bytes after the last tensor");
  return ckpt;
}

void add_model_tensors(nn::Model& model, Checkpoint& ckpt) {
  for (auto& [name, p] : model.named_params()) ckpt.tensors.emplace_back("param:" + name, p->value);
  for (auto& [name, t] : model.named_buffers()) ckpt.tensors.emplace_back("buffer:" + name, *t);
  for (auto& [name, p] : model.named_params())
    if (p->masked()) ckpt.tensors.emplace_back("mask:" + name, p->mask);
}

static void load_one(const Checkpoint& ckpt, const std::string& key, Tensor& dst, const std::string& source) {
  const Tensor* t = ckpt.find(key);
  if (!t) fail(source, ": checkpoint has no tensor '", key, "' (does it belong to another model?)");
  if (t->shape() != dst.shape())
    fail(source, ": tensor '", key, "' has shape ", shape_str(t->shape()), ", model expects ", shape_str(dst.shape()));
  dst = *t;
}

void load_model_tensors(nn::Model& model, const Checkpoint& ckpt, const std::string& source) {
  std::set<std::string> masks;
  for (const auto& [key, t] : ckpt.tensors)
    if (key.rfind("mask:", 0) == 0) masks.insert(key.substr(5));
  for (auto& [name, p] : model.named_params()) {
    load_one(ckpt, "param:" + name, p->value, source);
    p->mask = Tensor();
    if (!masks.erase(name)) continue;
    p->mask = Tensor(p->value.shape());
    load_one(ckpt, "mask:" + name, p->mask, source);
    const float* m = p->mask.data();
    const float* w = p->value.data();
    for (int64_t i = 0; i < p->mask.size(); ++i) {
      LOWBIT_CHECK(m[i] == 0.f || m[i] == 1.f, source, ": pruning mask 'mask:", name, "' holds ", m[i], " at ", i,
                   " (only 0 and 1 are masks)");
      LOWBIT_CHECK(m[i] != 0.f || w[i] == 0.f, source, ": parameter '", name, "' is ", w[i], " at ", i,
                   " where its pruning mask is 0 (a pruned weight must be exactly 0)");
    }
  }
  if (!masks.empty()) fail(source, ": checkpoint has a pruning mask for '", *masks.begin(), "', which this model has no parameter of");
  // A mask on weights without a zero level (sign(0) = +1) would deploy "pruned" weights as +1.
  for (nn::WeightedLayer* l : model.weighted_layers())
    if (l->weight().masked())
      if (const std::string why = nn::unprunable_reason(*l); !why.empty())
        fail(source, ": layer ", l->name(), " has a pruning mask, but ", why);
  for (auto& [name, t] : model.named_buffers()) load_one(ckpt, "buffer:" + name, *t, source);
}

LoadedModel load_model(const std::string& path) {
  LoadedModel r;
  r.checkpoint = read_checkpoint(path);
  if (!r.checkpoint.meta.contains("topology")) fail(path, ": checkpoint has no model topology");
  try {
    r.model = nn::build_model(r.checkpoint.meta.at("topology"));
  } catch (const Error& e) {
    fail(path, ": cannot rebuild the model (", e.what(), ")");
  }
  load_model_tensors(*r.model, r.checkpoint, path);
  return r;
}

}  // namespace lowbit::train
