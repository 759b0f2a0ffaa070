// Residual shortcuts in the runtime (docs/DEPLOYMENT.md, "Residual blocks"): a layer whose
// input map a later layer reads as its shortcut keeps that map's levels, one byte per value;
// the later layer's thresholds are then chosen per value by the shortcut's level
// (format::LayerDesc::threshold_set). Plain loops: a residual layer's thresholds cost what
// threshold_planes costs, and its GEMM dominates either way.
#pragma once
#include <cstdint>

#include "lowbit/runtime/plan.hpp"

namespace lowbit::runtime {

// The levels of the input map of layer `d` (m images of h x w x c values), which arrives in
// bit-planes (d.input.planes() planes of m h w pixels of packed_words(c) words each) or, when
// `bytes`, as one level byte per value: into `levels` (m h w c bytes, (image, y, x, c) order).
void save_levels(const LayerPlan& d, const uint64_t* input, bool bytes, int64_t m, uint8_t* levels);

// Threshold levels of a layer with a shortcut: out_levels[r * out + o] = the number of
// thresholds of set (o, shortcut[r * out + o]) that acc[r * out + o] reaches, for `rows`
// rows; d.thresholds is out x d.sets x d.levels.
void threshold_shortcut(const LayerPlan& d, int64_t rows, const int32_t* acc, const uint8_t* shortcut,
                        uint8_t* out_levels);

// Levels (rows x c bytes) into `planes` bit-planes of rows x packed_words(c) words each (the
// layout of kernels::threshold_planes).
void pack_levels(int64_t rows, int64_t c, int planes, const uint8_t* levels, uint64_t* out);

}  // namespace lowbit::runtime
