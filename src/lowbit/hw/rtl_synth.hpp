// Logic synthesis of a generated design with yosys (docs/SYNTHESIS.md): every planner unit
// alone (rtl_writer.hpp stage_wrapper_verilog around the library module, its $readmemh
// images read from DIR/rtl), or the whole top module, through `synth_xilinx -family F` or
// `synth_ice40`; the cells yosys leaves are counted per resource so they sit next to the
// planner's estimates (finn_model.hpp, calibrated_model.hpp).
//
// What is counted (yosys's cell names):
//   Xilinx: LUT = LUT1..LUT6; LUTRAM = LUT sites used as memory (RAM32M/RAM64M 4, RAM32X1D,
//           RAM64X1D 2, RAM128X1D 4, SRL16E/SRLC32E 1, ...: Vivado's "LUT as Memory");
//           FF = FD*; BRAM18 = RAMB18E1/E2 + 2 x RAMB36E1/E2; URAM = URAM288; DSP = DSP48E1/E2;
//           CARRY = CARRY4/CARRY8.
//   iCE40:  LUT = SB_LUT4; FF = SB_DFF*; EBR = SB_RAM40_4K*; DSP = SB_MAC16; CARRY = SB_CARRY.
// Cell types outside these stay in `cells` only.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lowbit/hw/rtl_design.hpp"

namespace lowbit::hw {

enum class SynthTarget { kXilinx, kIce40 };

struct SynthOptions {
  SynthTarget target = SynthTarget::kXilinx;
  std::string family = "xc7";  // synth_xilinx -family: xc7, xcup, xcu (Xilinx only)
  bool netlist = false;        // also write the gate-level netlist, DIR/synth/<name>/netlist.v
};

// Resource counts of one synthesized module.
struct SynthCounts {
  int64_t lut = 0, lutram = 0, ff = 0, bram18 = 0, uram = 0, dsp = 0, ebr = 0, carry = 0;
  std::map<std::string, int64_t> cells;  // every cell type yosys left, with its count
  SynthCounts& operator+=(const SynthCounts& o);
};

// Classifies yosys's cells (type -> count) by resource, as listed above.
SynthCounts count_cells(const std::map<std::string, int64_t>& cells, SynthTarget target);

// The cells of module `top` in the text of yosys's `stat -json` (flattened: the top's own
// num_cells_by_type), classified. `file` names the text in errors. Throws lowbit::Error
// "FILE: not yosys stat -json output" / "FILE: no module TOP" on malformed text.
SynthCounts parse_stat_json(const std::string& text, const std::string& top, SynthTarget target, const std::string& file);

// "Yosys 0.23 (git sha1 ...)" from the same text ("" when absent).
std::string stat_json_creator(const std::string& text);

// The yosys script that synthesizes `top` from `sources` (Verilog files, read with -defer so
// a library module is elaborated only with the parameters its instances give) and writes the
// cell statistics to `stat_json` (a path without white space: yosys's tee takes no quotes);
// with `netlist` non-empty also a gate-level Verilog netlist
// (write_verilog -noattr). Run it with the current directory holding the .mem images.
std::string yosys_script(const std::vector<std::string>& sources, const std::string& top, const SynthOptions& opt,
                         const std::string& stat_json, const std::string& netlist = "");

// One synthesis run.
struct SynthRun {
  std::string name;       // the unit's name, or the top module's for the whole design
  std::string module;     // lb_mvau, ..., or the top
  int node = -1;          // its unit in d.graph (-1: the whole design)
  SynthCounts counts;
  double seconds = 0;     // yosys's wall time
  std::string log;        // DIR/synth/<name>.log
  std::string yosys;      // yosys's version line ("Yosys 0.23 (git sha1 ...)")
  std::string netlist;    // with SynthOptions::netlist: the gate-level Verilog (yosys's cell
                          // library: simulate with /usr/share/yosys/xilinx/cells_sim.v or
                          // ice40/cells_sim.v)
};

// Synthesizes stage `stage` of `d` alone: writes DIR/synth/<name>/unit.v (the wrapper),
// runs yosys in DIR/rtl (the library and the .mem images) with its log in
// DIR/synth/<name>.log. Throws lowbit::Error: yosys missing (naming Debian's package), a
// library file or memory image missing in DIR/rtl (naming it), yosys failing (the log's
// last lines).
SynthRun synth_stage(const RtlDesign& d, size_t stage, const std::string& dir, const SynthOptions& opt);

// The whole top module (DIR/rtl/<top>.v), likewise, in DIR/synth/<top>/ and <top>.log.
SynthRun synth_whole(const RtlDesign& d, const std::string& dir, const SynthOptions& opt);

// The Verilog files of the whole design in DIR/rtl (the library, then the top), absolute,
// after checking that they and every memory image exist (the error names the missing file).
std::vector<std::string> design_sources(const RtlDesign& d, const std::string& dir);

// The stage's $readmemh images (its string parameters naming .mem files), for checks.
std::vector<std::string> stage_mem_files(const RtlStage& s);

}  // namespace lowbit::hw
