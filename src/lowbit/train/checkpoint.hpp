// Training checkpoints (.ckpt): everything needed to evaluate a model or to resume
// training exactly: the topology, the training configuration, progress counters,
// parameters, buffers (BatchNorm running stats) and optimizer state.
//
// Layout (little-endian), documented in docs/FORMAT.md:
//   "LOWBITCK" | u32 version | u32 flags(0) | u64 meta_len | meta JSON
//   | u32 tensor_count | { u32 name_len | name | u32 rank | i64 dims[rank] | f32 data } *
//   | u32 crc32 of every byte before it
// Files are written atomically (temp + rename): a crash leaves the previous file.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "lowbit/nn/model.hpp"

namespace lowbit::train {

using json = nlohmann::json;

inline constexpr uint32_t kCheckpointVersion = 1;

struct Checkpoint {
  json meta = json::object();
  std::vector<std::pair<std::string, Tensor>> tensors;

  const Tensor* find(const std::string& name) const;
};

std::vector<uint8_t> encode_checkpoint(const Checkpoint& ckpt);
void write_checkpoint(const std::string& path, const Checkpoint& ckpt);  // encode + atomic write
// Rejects missing, truncated, corrupted (CRC) and unknown-version files, naming the path
// (a folder is "is a folder, not a file").
Checkpoint read_checkpoint(const std::string& path);
// The same on a file image already read; `source` names it in errors.
Checkpoint decode_checkpoint(const std::vector<uint8_t>& bytes, const std::string& source);

// Rebuild the model a checkpoint was trained with and load its weights and buffers.
struct LoadedModel {
  std::unique_ptr<nn::Model> model;
  Checkpoint checkpoint;
};
LoadedModel load_model(const std::string& path);

// Copy the model's parameters ("param:NAME"), buffers ("buffer:NAME") and pruning masks
// ("mask:NAME", only for masked parameters: nn::Param::mask) into ckpt.
void add_model_tensors(nn::Model& model, Checkpoint& ckpt);
// Load them back; every parameter and buffer must be present with the same shape. A
// parameter gets the checkpoint's mask, or none when it has none; a mask must hold only 0
// and 1, with the parameter exactly 0 where it is 0, and belong to a parameter (Error naming
// the source and the tensor otherwise).
void load_model_tensors(nn::Model& model, const Checkpoint& ckpt, const std::string& source);

}  // namespace lowbit::train
