// The five prebuilt FINN overlays of Xilinx's BNN-PYNQ (PYNQ-Z1/Z2, Ultra96): their fixed
// layer shapes, foldings (PE, SIMD), bit widths and arithmetic, as the overlays' HLS sources
// fix them (BNN-PYNQ bnn/src/network/<net>/hw/{config.h,top.cpp}, finn-hlslib at the commit
// BNN-PYNQ pins: mvau.hpp, activations.hpp, interpret.hpp, weights.hpp). A bitstream loads
// its weights and thresholds at run time from a parameter folder (bnn_pynq_files.hpp), so
// any network of exactly these shapes runs on the board without Vivado. docs/HARDWARE.md
// describes the arithmetic; this table is its single copy in code.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::hw::bnn_pynq {

// How a layer's accumulator is formed (finn-hlslib's input/weight interpretations).
enum class Accumulate {
  kXnorPopcount,  // Recast<XnorMul>: the count of input bits equal to the weight bits (W1A1)
  kSignedDot,     // the signed dot product of the weight values and the input values
  kFixedInput,    // CNV layer 0: signed dot of weights and ap_fixed<8,1> pixels, in ap_fixed<24,16>
};

// The values one input element carries.
enum class InputCode {
  kBit,     // one bit: 1 = +1, 0 = -1 (Recast<Binary> / XnorMul)
  kInt2,    // ap_int<2>: -1, 0, +1 (two's complement, 2 bits)
  kFixed8,  // ap_fixed<8, 1>: code q in -128..127, value q / 128
};

struct OverlayLayer {
  bool conv = false;
  // conv: kernel k x k, stride 1, no padding; input ifm_dim^2 x ifm_ch, output ofm_dim^2 x ofm_ch
  int64_t kernel = 0, ifm_ch = 0, ifm_dim = 0, ofm_ch = 0, ofm_dim = 0;
  // The matrix the MVTU holds: mh rows (outputs, padded) x mw columns (inputs, padded);
  // conv: mw = kernel^2 * ifm_ch in (ky, kx, c) order, mh = ofm_ch.
  int64_t mw = 0, mh = 0;
  int64_t simd = 0, pe = 0;
  int weight_bits = 1;          // 1: bit 1 = +1, bit 0 = -1; 2: ap_int<2> (-2..1)
  InputCode input = InputCode::kBit;
  Accumulate acc = Accumulate::kXnorPopcount;
  // Thresholds per output (1: A1, outputs 0/1; 2: A2, outputs -1 + count, so -1/0/+1), or
  // 0: the raw accumulator leaves the layer as ap_uint<16> (the last CNV layer).
  int thresholds = 1;
  bool pool_after = false;      // a 2x2, stride 2 max pool of the output codes follows

  int64_t nf() const { return mh / pe; }    // neuron folds: rows per PE
  int64_t sf() const { return mw / simd; }  // synapse folds: weight words per row
  // Threshold bits the hardware keeps: ap_int<16>, or ap_fixed<24,16> (8 fraction bits) on
  // the fixed-point input layer, whose stored int64 is the threshold times 256.
  int threshold_bits() const { return acc == Accumulate::kFixedInput ? 24 : 16; }
};

// How the host code turns images into the first layer's input and outputs into a class.
enum class OverlayInput {
  kMnistBits,   // LFC: 28x28 pixels, bit set when pixel >= 128, padded with 0 bits to mw
  kCifarFixed,  // CNV: 3x32x32 CIFAR-10 records, byte c -> clamp(round(256c/255 - 128), -128, 127)
};
enum class OverlayOutput {
  kClassBits,        // LFC: one bit per class; the class is the highest set bit (0 when none)
  kAccumulators16,   // CNV: one 16-bit signed value per class; the first one above all earlier and 0
};

struct Overlay {
  std::string name;  // lfcW1A1, lfcW1A2, cnvW1A1, cnvW1A2, cnvW2A2
  OverlayInput input = OverlayInput::kMnistBits;
  OverlayOutput output = OverlayOutput::kClassBits;
  std::vector<OverlayLayer> layers;
  int64_t max_classes = 64;  // rows of the last layer; classes.txt may name at most this many
};

// The overlay of that name; throws lowbit::Error listing the valid names.
const Overlay& overlay(const std::string& name);
const std::vector<Overlay>& overlays();
std::string overlay_names();  // "lfcW1A1, lfcW1A2, cnvW1A1, cnvW1A2, cnvW2A2"

// The 8-bit code the CNV overlays' host computes for a CIFAR byte: ap_fixed<8,1,AP_RND,
// AP_SAT> of 2c/255 - 1, i.e. clamp(round(256c/255 - 128), -128, 127) (no ties occur).
int32_t cifar_fixed_code(int c);
// The LFC overlays' input bit for an MNIST pixel: tiny-cnn scales it to 2c/255 - 1 and the
// host sets the bit when that is >= 0, i.e. c >= 128.
inline bool mnist_bit(int c) { return c >= 128; }

}  // namespace lowbit::hw::bnn_pynq
