// Builds a Model from a JSON topology:
//   {"name": "mynet", "input": [1, 28, 28],
//    "layers": [{"type": "flatten"}, {"type": "dense", "units": 256}, {"type": "relu"},
//               {"type": "residual", "body": [...], "shortcut": [...]}, ...]}
// Every layer type, its keys and defaults are listed in docs/TOPOLOGY.md. Unknown types
// and unknown keys are errors (a typo must not silently fall back to a default); the
// message names the layer's position, e.g. "layers[3] (conv2d): unknown key 'filter'".
#pragma once
#include <memory>
#include <string>

#include "lowbit/nn/model.hpp"

namespace lowbit::nn {

std::unique_ptr<Model> build_model(const json& topology);
// Reads a topology file; errors name the file.
json read_topology_file(const std::string& path);
// Names of the layer types the builder knows, for error messages and docs.
std::vector<std::string> layer_types();

}  // namespace lowbit::nn
