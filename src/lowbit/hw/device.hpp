// FPGA devices a dataflow plan is sized against (docs/HARDWARE.md, "Devices"): the resource
// counts of each part, the boards that carry it, a default clock and the reference board's
// off-chip memory bandwidth (for the roofline, roofline.hpp). The built-in table holds the
// parts of the issue and of FINN's and BNN-PYNQ's boards; a user adds one in a small JSON
// file (read_device_file) without rebuilding.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::hw {

// How the part's fabric is built: what a "LUT" is and which RAM blocks it has.
enum class Fabric {
  kXilinx,  // 6-input LUTs, RAMB18/RAMB36 block RAM (18 Kbit halves), DSP48, optional UltraRAM
  kIce40,   // Lattice iCE40: 4-input logic cells, 4 Kbit embedded block RAM (EBR)
};

struct Device {
  std::string name;                 // part, e.g. "xc7z020"
  std::vector<std::string> boards;  // boards that carry it, e.g. "pynq-z1"; names match too
  Fabric fabric = Fabric::kXilinx;
  int64_t luts = 0;       // 6-LUTs (Xilinx) or logic cells (iCE40)
  int64_t bram36 = 0;     // RAMB36 blocks (each two RAMB18); 0 on iCE40
  int64_t uram = 0;       // UltraRAM blocks (288 Kbit: 4096 x 72)
  int64_t dsp = 0;        // DSP48 slices (iCE40 UP5K: SB_MAC16)
  int64_t ebr = 0;        // iCE40 4 Kbit EBR blocks; 0 on Xilinx
  double clock_mhz = 100;  // default clock of plans on this part
  double ddr_gbps = 0;    // the reference board's off-chip bandwidth, GB/s (0: none)
  std::string note;       // where the figures come from

  int64_t bram18() const { return 2 * bram36; }
  int lut_inputs() const { return fabric == Fabric::kIce40 ? 4 : 6; }
};

// The built-in parts: xc7z020 (PYNQ-Z1/Z2), xc7z045 (ZC706), xczu3eg (Ultra96), xcku115
// (KCU1500), xcu250 (Alveo U250), ice40hx8k and ice40up5k.
const std::vector<Device>& builtin_devices();

// The device a --board value names: a built-in part or board name (case-insensitive), or a
// path to a device JSON file (anything ending in ".json"). Throws lowbit::Error listing the
// known names when nothing matches.
Device find_device(const std::string& name_or_file);

// A device from a JSON file:
//   {"name": "xc7a35t", "boards": ["arty-a7-35"], "fabric": "xilinx", "luts": 20800,
//    "bram36": 50, "uram": 0, "dsp": 90, "ebr": 0, "clock_mhz": 100, "ddr_gbps": 1.6}
// name, fabric and luts are required; counts are integers in 0..10^8; bram36 and uram
// must be 0 on "ice40", ebr 0 on "xilinx". Unknown keys and keys given twice are refused.
// Throws lowbit::Error naming the file and the key.
Device read_device_file(const std::string& path);

// "xc7z020 (pynq-z1, pynq-z2): 53200 LUT, 140 BRAM36, 220 DSP" for listings.
std::string device_line(const Device& d);

}  // namespace lowbit::hw
