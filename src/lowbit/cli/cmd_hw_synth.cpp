// lowbit hw synth: yosys on a design folder, each planner unit alone (and the whole top with
// --whole), its cells next to the planner's FINN-compatible and calibrated estimates; iCE40
// place and route with --pnr (docs/SYNTHESIS.md).
//   lowbit hw synth DIR [--target xilinx|ice40] [--family xc7|xcup|xcu] [--units A,B] [--whole]
//                   [--calibration C.json] [--device PART] [--pnr [--freq-mhz F]] [--json]
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "lowbit/cli/commands.hpp"
#include "lowbit/cli/hw_commands.hpp"
#include "lowbit/cli/hw_design_folder.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/hw/calibrated_model.hpp"
#include "lowbit/hw/device.hpp"
#include "lowbit/hw/finn_model.hpp"
#include "lowbit/hw/rtl_pnr.hpp"
#include "lowbit/hw/rtl_synth.hpp"

namespace lowbit::cli {

namespace {

struct SynthArgs {
  std::string dir, target = "xilinx", family = "xc7", calibration, device;
  std::vector<std::string> units;
  bool whole = false, pnr = false, json = false;
  double freq_mhz = 12;
};

// The part whose memory rule the calibrated estimate follows: --device, else one of the
// family (xc7: the PYNQ-Z1's xc7z020; xcup: Ultra96's xczu3eg; xcu: KCU1500's xcku115) or the
// iCE40 of --pnr's default.
hw::Device estimate_device(const SynthArgs& a) {
  if (a.target == "ice40") return hw::find_device(a.device.empty() || a.device == "hx8k" ? "ice40hx8k" : "ice40up5k");
  if (!a.device.empty()) return hw::find_device(a.device);
  return hw::find_device(a.family == "xc7" ? "xc7z020" : a.family == "xcup" ? "xczu3eg" : "xcku115");
}

nlohmann::ordered_json counts_json(const hw::SynthCounts& c, bool ice40) {
  nlohmann::ordered_json j;
  j["lut"] = c.lut;
  if (!ice40) j["lutram"] = c.lutram;
  j["ff"] = c.ff;
  if (ice40) j["ebr"] = c.ebr;
  else j["bram18"] = c.bram18, j["uram"] = c.uram;
  j["dsp"] = c.dsp;
  j["carry"] = c.carry;
  j["cells"] = c.cells;
  return j;
}

nlohmann::ordered_json estimate_json(const hw::Resources& r, bool ice40) {
  if (ice40) return {{"lut", r.lut}, {"ebr", r.ebr}, {"dsp", r.dsp}};
  return {{"lut", r.lut}, {"bram18", r.bram18}, {"uram", r.uram}, {"dsp", r.dsp}};
}

int run_synth(const SynthArgs& a) {
  const bool ice40 = a.target == "ice40";
  format::ModelDesc desc;
  const hw::RtlDesign d = load_design_folder(a.dir, desc);
  const hw::Device dev = estimate_device(a);
  LOWBIT_CHECK_USAGE((dev.fabric == hw::Fabric::kIce40) == ice40, "--device ", a.device, " is not a",
                     ice40 ? "n iCE40" : " Xilinx", " part (--target ", a.target, ")");
  const hw::Calibration cal = a.calibration.empty() ? hw::Calibration{} : hw::read_calibration(a.calibration);
  hw::SynthOptions opt;
  opt.target = ice40 ? hw::SynthTarget::kIce40 : hw::SynthTarget::kXilinx;
  opt.family = a.family;

  // The stages to synthesize: the planner units, or those --units names.
  std::vector<size_t> chosen;
  std::set<std::string> wanted(a.units.begin(), a.units.end());
  const bool planner_units = wanted.empty();
  std::string names;
  for (size_t i = 0; i < d.stages.size(); ++i) {
    names += (names.empty() ? "" : ", ") + d.stages[i].name;
    if (planner_units ? d.stages[i].node >= 0 : wanted.erase(d.stages[i].name) > 0) chosen.push_back(i);
  }
  if (!wanted.empty()) usage_fail("--units: ", *wanted.begin(), " is not a stage of ", a.dir, " (", names, ")");

  const std::string flow = ice40 ? "synth_ice40" : "synth_xilinx -family " + a.family;
  if (!a.json)
    std::cout << "Synthesizing " << chosen.size() << " unit(s) of '" << d.graph.model << "' alone with yosys " << flow
              << " (logs in " << a.dir << "/synth/)...\n"
              << std::flush;
  nlohmann::ordered_json units = nlohmann::ordered_json::array();
  hw::SynthCounts total;
  hw::Resources finn_total, cal_total;
  std::ostringstream table;
  table << std::left << std::setw(33) << "unit" << std::setw(17) << "module" << std::right;
  if (ice40)
    table << "  yosys:   LUT     FF  EBR  DSP | calibrated:   LUT  EBR  DSP |  time\n";
  else
    table << "  yosys:   LUT LUTRAM     FF BRAM18 URAM DSP | FINN:   LUT BRAM18 URAM DSP | calibrated:   LUT BRAM18 URAM DSP |  time\n";
  const auto row = [&](const std::string& name, const std::string& module, const hw::SynthCounts& c, const hw::Resources* finn,
                       const hw::Resources* calr, double secs) {
    table << std::left << std::setw(33) << name << std::setw(17) << module << std::right << "        ";
    // An estimate's columns, or dashes where the planner has none (glue, FINN on iCE40).
    const auto est = [&](const hw::Resources* r) {
      if (!r) table << (ice40 ? "     -    -    -" : "     -      -    -   -");
      else if (ice40) table << std::setw(6) << r->lut << std::setw(5) << r->ebr << std::setw(5) << r->dsp;
      else table << std::setw(6) << r->lut << std::setw(7) << r->bram18 << std::setw(5) << r->uram << std::setw(4) << r->dsp;
    };
    if (ice40) {
      table << std::setw(6) << c.lut << std::setw(7) << c.ff << std::setw(5) << c.ebr << std::setw(5) << c.dsp << " |            ";
      est(calr);
    } else {
      table << std::setw(6) << c.lut << std::setw(7) << c.lutram << std::setw(7) << c.ff << std::setw(7) << c.bram18
            << std::setw(5) << c.uram << std::setw(4) << c.dsp << " |      ";
      est(finn);
      table << " |            ";
      est(calr);
    }
    table << " |" << std::fixed << std::setprecision(1) << std::setw(6) << secs << "s\n";
  };
  std::string creator;
  for (size_t i : chosen) {
    const hw::RtlStage& s = d.stages[i];
    const hw::SynthRun r = hw::synth_stage(d, i, a.dir, opt);
    creator = r.yosys;
    total += r.counts;
    nlohmann::ordered_json u{{"name", s.name}, {"module", s.module}, {"yosys", counts_json(r.counts, ice40)}};
    hw::Resources finn, calr;
    const bool planned = s.node >= 0;
    if (planned) {
      const hw::Node& n = d.graph.nodes[static_cast<size_t>(s.node)];
      calr = hw::calibrated_resources(n, dev, cal);
      cal_total += calr;
      u["calibrated"] = estimate_json(calr, ice40);
      if (!ice40) {
        finn = hw::finn_resources(n);
        finn_total += finn;
        u["finn"] = estimate_json(finn, false);
      }
    }
    u["seconds"] = r.seconds;
    u["log"] = r.log;
    units.push_back(u);
    row(s.name, s.module, r.counts, planned && !ice40 ? &finn : nullptr, planned ? &calr : nullptr, r.seconds);
    if (!a.json) std::cerr << "  " << s.name << ": " << std::fixed << std::setprecision(1) << r.seconds << " s\n";
  }
  double secs_total = 0;
  for (const auto& u : units) secs_total += u["seconds"].get<double>();
  row(cat("total (", chosen.size(), " units)"), "", total, ice40 ? nullptr : &finn_total, &cal_total, secs_total);

  nlohmann::ordered_json out{{"design", a.dir}, {"model", d.graph.model}, {"top", d.top}, {"yosys", creator},
                             {"flow", flow}, {"estimate_part", dev.name},
                             {"calibration", cal.calibrated ? a.calibration : "uncalibrated (first-principles defaults)"},
                             {"calibration_source", cal.source},
                             {"units", units},
                             {"total", {{"yosys", counts_json(total, ice40)}, {"calibrated", estimate_json(cal_total, ice40)}}}};
  if (!ice40) out["total"]["finn"] = estimate_json(finn_total, false);
  if (a.whole) {
    if (!a.json) std::cerr << "  whole design " << d.top << "...\n";
    const hw::SynthRun w = hw::synth_whole(d, a.dir, opt);
    row("whole design", d.top.substr(0, 16), w.counts, nullptr, nullptr, w.seconds);
    out["whole"] = {{"yosys", counts_json(w.counts, ice40)}, {"seconds", w.seconds}, {"log", w.log}};
  }
  if (a.pnr) {
    hw::PnrOptions po;
    po.device = a.device.empty() ? "hx8k" : a.device;
    po.freq_mhz = a.freq_mhz;
    if (!a.json) std::cerr << "  place and route on iCE40 " << po.device << "...\n";
    const hw::PnrResult p = hw::pnr_ice40(d, a.dir, po);
    nlohmann::ordered_json use;
    for (const auto& [bel, u] : p.use)
      if (u.used > 0) use[bel] = {{"used", u.used}, {"available", u.available}};
    out["pnr"] = {{"device", po.device}, {"fmax_mhz", p.fmax_mhz}, {"target_mhz", po.freq_mhz}, {"utilisation", use},
                  {"synth", counts_json(p.synth, true)}, {"synth_seconds", p.synth_seconds}, {"pnr_seconds", p.pnr_seconds},
                  {"bitstream_bytes", p.bitstream_bytes}, {"folder", p.dir}};
    if (!a.json) {
      table << "\nPlace and route (nextpnr-ice40 --" << po.device << ", board wrapper: 8-bit pixels in, label out), "
            << std::setprecision(1) << p.synth_seconds << " s yosys + " << p.pnr_seconds << " s nextpnr, in " << p.dir << ":\n"
            << "  Fmax " << std::setprecision(2) << p.fmax_mhz << " MHz (nextpnr's timing model; target " << po.freq_mhz
            << " MHz)\n";
      for (const auto& [bel, u] : p.use)
        if (u.used > 0)
          table << "  " << std::left << std::setw(16) << bel << std::right << std::setw(7) << u.used << " / " << u.available
                << std::setprecision(1) << "  (" << 100.0 * static_cast<double>(u.used) / static_cast<double>(u.available)
                << "%)\n";
      if (p.bitstream_bytes) table << "  bitstream " << p.dir << "/top.bin, " << p.bitstream_bytes << " bytes\n";
    }
  }
  if (a.json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << creator << ", " << flow << "; estimates on " << dev.name << ", calibrated model "
            << (cal.calibrated ? a.calibration + " (" + cal.source + ")"
                               : "uncalibrated (give --calibration docs/hw/calibration-xc7.json)")
            << "\n"
            << (ice40 ? "" : "LUT: logic 6-LUTs; LUTRAM: LUT sites used as memory; the estimates' LUT counts both.\n")
            << table.str();
  return 0;
}

}  // namespace

HwSubcommand add_hw_synth_command(CLI::App& hw) {
  auto a = std::make_shared<SynthArgs>();
  CLI::App* cmd = hw.add_subcommand(
      "synth", "Synthesize a design folder with yosys, each unit alone, and compare the cells with the planner's "
               "estimates; iCE40 place and route with --pnr");
  cmd->add_option("dir", a->dir, "A design folder from lowbit hw rtl")->required()->check(non_empty());
  cmd->add_option("--target", a->target, "xilinx (synth_xilinx) or ice40 (synth_ice40)")
      ->capture_default_str()
      ->check(CLI::IsMember({"xilinx", "ice40"}));
  cmd->add_option("--family", a->family, "synth_xilinx -family: xc7 (7-series), xcup (UltraScale+), xcu (UltraScale)")
      ->capture_default_str()
      ->check(CLI::IsMember({"xc7", "xcup", "xcu"}));
  cmd->add_option("--units", a->units, "Only these stages (comma-separated names; glue stages too)")->delimiter(',');
  cmd->add_flag("--whole", a->whole, "Also synthesize the whole top module (with FIFOs and width converters)");
  cmd->add_option("--calibration", a->calibration, "Calibration file of the structural estimate (docs/hw/calibration-xc7.json)")
      ->check(non_empty());
  cmd->add_option("--device", a->device,
                  "Xilinx: the part of the calibrated estimate's memory rule (default by family); ice40: hx8k or up5k")
      ->check(non_empty());
  cmd->add_flag("--pnr", a->pnr, "iCE40: place and route the whole design (nextpnr-ice40) and report Fmax and utilisation");
  cmd->add_option("--freq-mhz", a->freq_mhz, "--pnr: the clock nextpnr times against, MHz")
      ->capture_default_str()
      ->check(real_in(1, 1000));
  cmd->add_flag("--json", a->json, "Print the report as JSON");
  cmd->footer(kExitCodesHelp);
  return {cmd, [a, cmd]() {
            if (a->target == "ice40" && cmd->get_option("--family")->count())
              usage_fail("--family is synth_xilinx's; --target ice40 takes none");
            if (a->pnr && a->target != "ice40") usage_fail("--pnr places and routes on iCE40: give --target ice40");
            if (cmd->get_option("--freq-mhz")->count() && !a->pnr) usage_fail("--freq-mhz goes with --pnr");
            if (a->target == "ice40" && !a->device.empty() && a->device != "hx8k" && a->device != "up5k")
              usage_fail("--device ", a->device, ": --target ice40 takes hx8k or up5k");
            return run_synth(*a);
          }};
}

}  // namespace lowbit::cli
