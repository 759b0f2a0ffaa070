#include "lowbit/hw/device.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "lowbit/core/error.hpp"
#include "lowbit/core/json_get.hpp"

namespace lowbit::hw {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Device xilinx(std::string name, std::vector<std::string> boards, int64_t luts, int64_t bram36, int64_t uram, int64_t dsp,
              double clock_mhz, double ddr_gbps, std::string note) {
  Device d;
  d.name = std::move(name), d.boards = std::move(boards), d.fabric = Fabric::kXilinx;
  d.luts = luts, d.bram36 = bram36, d.uram = uram, d.dsp = dsp, d.clock_mhz = clock_mhz, d.ddr_gbps = ddr_gbps;
  d.note = std::move(note);
  return d;
}

Device ice40(std::string name, std::vector<std::string> boards, int64_t cells, int64_t ebr, int64_t dsp, double clock_mhz,
             std::string note) {
  Device d;
  d.name = std::move(name), d.boards = std::move(boards), d.fabric = Fabric::kIce40;
  d.luts = cells, d.ebr = ebr, d.dsp = dsp, d.clock_mhz = clock_mhz, d.note = std::move(note);
  return d;
}

}  // namespace

const std::vector<Device>& builtin_devices() {
  // Resource counts: Xilinx DS190 (Zynq-7000), DS891 (Zynq UltraScale+), DS890 (Kintex
  // UltraScale), DS962 (Alveo U250); Lattice DS1040 (iCE40 LP/HX) and FPGA-DS-02008 (UP5K).
  // The clocks are FINN's defaults for these boards (100 MHz on Zynq, 200/300 on the larger
  // parts: FINN's build configs and finn-examples). ddr_gbps: the reference board's DRAM
  // (PYNQ-Z1: 16-bit DDR3-1050; ZC706: the PL's 64-bit DDR3-1600; Ultra96: 32-bit
  // LPDDR4-2133; KCU1500 and U250: four 64-bit DDR4-2400 channels).
  static const std::vector<Device> table = {
      xilinx("xc7z020", {"pynq-z1", "pynq-z2"}, 53200, 140, 0, 220, 100, 4.2, "Zynq-7020 (DS190)"),
      xilinx("xc7z045", {"zc706"}, 218600, 545, 0, 900, 100, 12.8, "Zynq-7045 (DS190)"),
      xilinx("xczu3eg", {"ultra96"}, 70560, 216, 0, 360, 100, 8.5, "Zynq UltraScale+ ZU3EG (DS891)"),
      xilinx("xcku115", {"kcu1500"}, 663360, 2160, 0, 5520, 200, 76.8, "Kintex UltraScale KU115 (DS890)"),
      xilinx("xcu250", {"alveo-u250", "u250"}, 1728000, 2688, 1280, 12288, 300, 77.0, "Alveo U250, VU13P-class (DS962)"),
      ice40("ice40hx8k", {"hx8k", "ice40hx8k-b-evn"}, 7680, 32, 0, 48, "iCE40 HX8K (DS1040): 4 Kbit EBR, no DSP"),
      ice40("ice40up5k", {"up5k", "upduino"}, 5280, 30, 8, 24,
            "iCE40 UltraPlus 5K (FPGA-DS-02008): 4 Kbit EBR, 8 SB_MAC16; its 1 Mbit SPRAM is not modelled"),
  };
  return table;
}

std::string device_line(const Device& d) {
  std::string s = d.name;
  if (!d.boards.empty()) {
    s += " (";
    for (size_t i = 0; i < d.boards.size(); ++i) s += (i ? ", " : "") + d.boards[i];
    s += ")";
  }
  if (d.fabric == Fabric::kIce40)
    return cat(s, ": ", d.luts, " logic cells, ", d.ebr, " x 4 Kbit EBR", d.dsp ? cat(", ", d.dsp, " DSP") : "");
  return cat(s, ": ", d.luts, " LUT, ", d.bram36, " BRAM36", d.uram ? cat(", ", d.uram, " URAM") : "", ", ", d.dsp,
             " DSP");
}

Device read_device_file(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  LOWBIT_CHECK(j.is_object(), path, ": a device file holds one JSON object");
  static const std::vector<std::string> keys = {"name", "boards", "fabric", "luts", "bram36", "uram",
                                                "dsp",  "ebr",    "clock_mhz", "ddr_gbps", "note"};
  for (auto it = j.begin(); it != j.end(); ++it)
    LOWBIT_CHECK(std::find(keys.begin(), keys.end(), it.key()) != keys.end(), path, ": unknown key '", it.key(),
                 "' (name, boards, fabric, luts, bram36, uram, dsp, ebr, clock_mhz, ddr_gbps, note)");
  for (const char* k : {"name", "fabric", "luts"}) LOWBIT_CHECK(j.contains(k), path, ": '", k, "' is required");
  Device d;
  d.name = json_string(j, "name", path);
  LOWBIT_CHECK(!d.name.empty(), path, ": 'name' must be a non-empty string");
  if (j.contains("boards")) {
    LOWBIT_CHECK(j["boards"].is_array(), path, ": 'boards' must be a list of names");
    for (const auto& b : j["boards"]) d.boards.push_back(json_string(b, cat(path, ": 'boards'")));
  }
  const std::string fabric = json_string(j, "fabric", path);
  LOWBIT_CHECK(fabric == "xilinx" || fabric == "ice40", path, ": 'fabric' must be \"xilinx\" or \"ice40\", got \"", fabric,
               "\"");
  d.fabric = fabric == "ice40" ? Fabric::kIce40 : Fabric::kXilinx;
  constexpr int64_t kMaxCount = 100000000;
  d.luts = json_int(j, "luts", 0, kMaxCount, path);
  d.bram36 = json_int_or(j, "bram36", 0, 0, kMaxCount, path);
  d.uram = json_int_or(j, "uram", 0, 0, kMaxCount, path);
  d.dsp = json_int_or(j, "dsp", 0, 0, kMaxCount, path);
  d.ebr = json_int_or(j, "ebr", 0, 0, kMaxCount, path);
  d.clock_mhz = json_number_or(j, "clock_mhz", d.clock_mhz, 1, 2000, path);
  d.ddr_gbps = json_number_or(j, "ddr_gbps", 0, 0, 100000, path);
  d.note = json_string_or(j, "note", "", path);
  LOWBIT_CHECK(d.luts > 0, path, ": 'luts' must be at least 1");
  if (d.fabric == Fabric::kIce40)
    LOWBIT_CHECK(d.bram36 == 0 && d.uram == 0, path, ": an ice40 part has EBR ('ebr'), not 'bram36' or 'uram'");
  else
    LOWBIT_CHECK(d.ebr == 0, path, ": a xilinx part has 'bram36' (and 'uram'), not 'ebr'");
  return d;
}

Device find_device(const std::string& name_or_file) {
  const std::string key = lower(name_or_file);
  if (key.size() > 5 && key.compare(key.size() - 5, 5, ".json") == 0) return read_device_file(name_or_file);
  std::string known;
  for (const Device& d : builtin_devices()) {
    if (lower(d.name) == key) return d;
    for (const std::string& b : d.boards)
      if (lower(b) == key) return d;
    known += (known.empty() ? "" : ", ") + d.name;
    for (const std::string& b : d.boards) known += ", " + b;
  }
  fail("unknown board or device '", name_or_file, "' (known: ", known, "; or a device JSON file, docs/HARDWARE.md)");
}

}  // namespace lowbit::hw
