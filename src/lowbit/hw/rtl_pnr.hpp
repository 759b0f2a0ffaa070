// Place and route of a generated design on a Lattice iCE40 with the open flow
// (docs/SYNTHESIS.md, "iCE40 place and route"): yosys synth_ice40, nextpnr-ice40 (its
// --report JSON gives the achieved clock and the utilisation), icepack (the bitstream).
// A network top has hundreds of stream bits on its ports; the board wrapper narrows it to a
// package's pins: an 8-bit pixel stream in (gathered by lb_dwc when the design takes more
// than one pixel per beat), the label stream out, the raw scores left unconnected (always
// ready).
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "lowbit/hw/rtl_design.hpp"
#include "lowbit/hw/rtl_synth.hpp"

namespace lowbit::hw {

struct PnrOptions {
  std::string device = "hx8k";  // hx8k (package ct256) or up5k (sg48)
  double freq_mhz = 12;         // the clock nextpnr times against (the boards' 12 MHz oscillator)
  int seed = 1;                 // nextpnr's placer seed
};

struct PnrUse {
  int64_t used = 0, available = 0;
};

struct PnrResult {
  double fmax_mhz = 0;                    // nextpnr's achieved frequency of clk (its timing model)
  std::map<std::string, PnrUse> use;      // bel type (ICESTORM_LC, ICESTORM_RAM, SB_IO, ...) -> used / available
  SynthCounts synth;                      // synth_ice40's cells of the board wrapper
  double synth_seconds = 0, pnr_seconds = 0;
  int64_t bitstream_bytes = 0;            // icepack's output; 0 when icepack is not installed
  std::string dir;                        // DIR/pnr: board.v, netlist.json, report.json, *.log, top.asc/.bin
};

// The board wrapper `lowbit_board` around the top module (ports: clk, rst, in_valid, in_ready,
// in_data[7:0], label_valid, label_data).
std::string ice40_board_verilog(const RtlDesign& d);

// The achieved clock of `clock` (or of the only clock when `clock` is empty) and the
// utilisation in the text of nextpnr's --report JSON; `file` names it in errors. Throws
// lowbit::Error when the text has no "fmax" or "utilization" object, or names no clock.
PnrResult parse_nextpnr_report(const std::string& text, const std::string& file);

// Synthesizes, places and routes the design folder's design on `opt.device` in DIR/pnr.
// Throws lowbit::Error: a missing tool (naming its Debian package: yosys, nextpnr-ice40),
// an unknown device, a design that does not fit or does not route (nextpnr's log's last
// lines), a memory image missing in DIR/rtl.
PnrResult pnr_ice40(const RtlDesign& d, const std::string& dir, const PnrOptions& opt);

}  // namespace lowbit::hw
