// BNN-PYNQ's parameter folder (read by the overlays' host code at run time, BNN-PYNQ
// bnn/src/library/host/foldedmv-offload.cpp FoldedMVLoadLayerMem, and bnn.py):
//   <out>/<dataset>/<network>/L-p-weights.bin   per layer L and PE p: WMEM = NF * SF
//       little-endian uint64 words; word t = nf * SF + sf holds row r = nf * PE + p,
//       columns sf * SIMD + i at bit i (binary: 1 = +1) or bits [2i+1 : 2i] (ap_int<2>,
//       two's complement); unused high bits 0.
//   <out>/<dataset>/<network>/L-p-thres.bin     per layer with thresholds: NF x thresholds
//       little-endian int64 (row r = nf * PE + p; the hardware keeps the low 16 bits, or
//       24 bits with 8 fraction bits on the CNV input layer).
//   <out>/<dataset>/<network>/classes.txt       one class name per line.
// On the board: copy <out>/<dataset> into bnn/params/ and load it with
// bnn.LfcClassifier(bnn.NETWORK_LFCW1A1, "<dataset>") (docs/HARDWARE.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/hw/bnn_pynq_params.hpp"

namespace lowbit::hw::bnn_pynq {

struct ParamFile {
  std::string name;  // e.g. "0-3-weights.bin"
  std::vector<uint8_t> bytes;
};

// The folder's files, in a fixed order (layers, then PEs, weights before thresholds, then
// classes.txt). `class_names` must hold p.classes names without line breaks; else
// lowbit::Error. Deterministic: the same parameters give the same bytes.
std::vector<ParamFile> parameter_files(const OverlayParams& p, const std::vector<std::string>& class_names);

// Throws lowbit::Error unless `dataset` is a plain folder name: letters, digits, '-', '_',
// '.' (not "." or ".."): bnn.py lists the folders of bnn/params/ by name.
void check_dataset_name(const std::string& dataset);

// Writes `files` (parameter_files) into <dir>/<dataset>/<network>/ (check_dataset_name
// first): first into a temporary folder beside it, which then replaces the folder of that
// name, so a failed or killed export leaves an earlier folder as it was. Returns the
// folder's path.
std::string write_parameter_dir(const std::string& dir, const std::string& dataset, const std::string& network,
                                const std::vector<ParamFile>& files);

// Class names for classes.txt: the known datasets' (fashion-mnist, mnist, cifar10) when
// `dataset` names one and the counts agree, else "0", "1", ...
std::vector<std::string> default_class_names(const std::string& dataset, int64_t classes);

// The parameter sets BNN-PYNQ ships in bnn/params/ (mnist, cifar10, chars_merged,
// road-signs, streetview): a folder of that name copied there replaces Xilinx's networks.
bool shipped_dataset(const std::string& dataset);

// The images as the overlay's host reads them, for running a test set on the board:
//   LFC: an MNIST idx3 image file (n x 28 x 28; smaller images centre-padded with 0) and an
//        idx1 label file, for LfcClassifier.classify_mnists;
//   CNV: CIFAR-10 binary records (label byte, then 1024 R, G, B bytes; 32x32, smaller images
//        centre-padded with 0; one channel replicated to R, G and B), for classify_cifars.
// images: n x channels x height x width bytes; labels: n values 0..255. Returns the files
// ({"test-images-idx3-ubyte", "test-labels-idx1-ubyte"} or {"test_batch.bin"}).
std::vector<ParamFile> overlay_image_files(const Overlay& o, const uint8_t* images, const int32_t* labels, int64_t n,
                                           int64_t channels, int64_t height, int64_t width);

}  // namespace lowbit::hw::bnn_pynq
