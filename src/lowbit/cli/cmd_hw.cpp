// lowbit hw: FPGA dataflow hardware from a model (docs/HARDWARE.md).
//   lowbit hw plan MODEL.lbm | --model M ... [--board B] [--clock-mhz F]
//                  [--fps N | --folding F.json | --fit] [--resources finn|calibrated]
//                  [--json] [-o folding.json] [--roofline]
//                  [--pruning] [--prune-what-if F ...] [--prune-target X] [--filter-rounding down|nearest]
//                  [--zero-skip] [--zs-batch B] [--zs-op-luts C] [--zs-decoder-luts C]
//   lowbit hw devices
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <optional>

#include "lowbit/cli/commands.hpp"
#include "lowbit/cli/hw_commands.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/export/fold.hpp"
#include "lowbit/format/lbm.hpp"
#include "lowbit/hw/dataflow.hpp"
#include "lowbit/hw/device.hpp"
#include "lowbit/hw/folding.hpp"
#include "lowbit/hw/plan.hpp"
#include "lowbit/hw/prune_whatif.hpp"
#include "lowbit/hw/pruning_cost.hpp"
#include "lowbit/hw/roofline.hpp"
#include "lowbit/hw/zero_skip.hpp"

namespace lowbit::cli {

namespace {

struct PlanArgs {
  std::string file;
  ModelChoice model;
  std::vector<int64_t> input = {1, 28, 28};
  int classes = 10;
  std::string board = "pynq-z1";
  double clock_mhz = 0;  // 0: the device's default
  double fps = 0;
  std::string folding;
  bool fit = false;
  std::string resources = "auto";
  std::string calibration;
  double utilization = 1.0;
  int64_t wwidth_max = 36;
  bool two_pass = true;
  bool json_out = false;
  bool roofline = false;
  std::string output;
  // Pruning (thesis eqs 4.5-4.7, Algorithm 3) and zero skipping (thesis 3.4).
  bool pruning = false;
  std::vector<double> prune_cuts;
  double prune_target = 0;
  std::string filter_rounding = "down";
  bool zero_skip = false;
  hw::ZeroSkipOptions zs;
};

// The IR the plan reads: a .lbm file, or an untrained copy of --model folded as export
// would (the shapes and bit widths are what a plan needs; the weights' values only narrow
// FINN's accumulator width).
format::ModelDesc plan_model(const PlanArgs& a) {
  if (!a.file.empty()) {
    const ModelFileKind kind = model_file_kind(a.file);
    if (kind == ModelFileKind::kJsonTopology) topology_given_as_file(a.file);
    if (kind == ModelFileKind::kOnnx) onnx_given_as_model(a.file);
    if (kind == ModelFileKind::kOther)
      fail(a.file, ": not a .lbm model file (export a checkpoint first: lowbit export ", a.file, " -o model.lbm)");
    return format::read_model_desc(format::LbmFile::read(a.file));
  }
  if (a.model.model.empty()) usage_fail("hw plan needs a model file (.lbm) or --model M");
  check_model_choice(a.model);
  auto model = make_model(a.model, a.input, a.classes);
  exporter::ExportOptions eo;
  eo.normalize = default_normalize(a.model);
  format::ModelDesc desc;
  const std::string problem = exporter::export_problem(model->topology(), eo, &desc);
  if (!problem.empty()) fail("--model ", a.model.model, " cannot be deployed: ", problem);
  if (desc.input.shape != a.input)
    std::cerr << "note: --model " << a.model.model << " takes input " << nlohmann::json(desc.input.shape).dump() << " (--input "
              << nlohmann::json(a.input).dump() << " is centre-padded to it); the plan is of that input\n";
  return desc;
}

int run_plan(const PlanArgs& a) {
  if (!a.output.empty()) {
    std::vector<std::string> inputs = {a.file, a.folding, a.calibration, a.board, a.model.model};
    check_output("-o", a.output, inputs);
    // The report goes to stdout; a folding written there too would replace or interleave it.
    struct stat out_st {}, stdout_st {};
    if (::stat(a.output.c_str(), &out_st) == 0 && ::fstat(STDOUT_FILENO, &stdout_st) == 0 &&
        out_st.st_dev == stdout_st.st_dev && out_st.st_ino == stdout_st.st_ino)
      usage_fail("-o ", a.output, " is this command's standard output, where the plan goes; give -o a file");
  }
  hw::CostModel cm;
  cm.device = hw::find_device(a.board);
  cm.clock_mhz = a.clock_mhz > 0 ? a.clock_mhz : cm.device.clock_mhz;
  cm.utilization = a.utilization;
  const bool ice40 = cm.device.fabric == hw::Fabric::kIce40;
  if (a.resources == "finn" && ice40)
    usage_fail("--resources finn: FINN's formulas count Xilinx 6-LUTs and RAMB18s; ", cm.device.name,
               " is an iCE40 (use --resources calibrated)");
  // auto: FINN's formulas on Xilinx parts, unless a calibration is given for the structural model.
  cm.model = a.resources == "finn" || (a.resources == "auto" && !ice40 && a.calibration.empty())
                 ? hw::ResourceModel::kFinn
                 : hw::ResourceModel::kCalibrated;
  if (!a.calibration.empty()) cm.calibration = hw::read_calibration(a.calibration);
  const format::ModelDesc desc = plan_model(a);
  hw::Graph g = hw::build_graph(desc);

  std::vector<std::string> notes;
  nlohmann::json how;
  hw::FitResult fit_result;
  bool fitted = false;
  if (!a.folding.empty()) {
    for (const std::string& s : hw::apply_folding_file(g, a.folding)) notes.push_back("skipped " + s);
    how = {{"folding_file", a.folding}};
  } else if (a.fps > 0) {
    const double cycles = cm.clock_mhz * 1e6 / a.fps;
    LOWBIT_CHECK_USAGE(cycles >= 1, "--fps ", a.fps, " is above one frame per clock cycle at ", cm.clock_mhz, " MHz");
    LOWBIT_CHECK_USAGE(cycles < 1e15, "--fps ", a.fps, " is ", cycles, " cycles per frame at ", cm.clock_mhz,
                       " MHz: more than any design needs (at most 10^15)");
    const int64_t target = hw::target_cycles_per_frame(cm.clock_mhz, a.fps);
    for (const std::string& w : hw::set_folding(g, {target, a.wwidth_max, a.two_pass})) notes.push_back("SetFolding: " + w);
    try {
      hw::check_folding(g);
    } catch (const Error& e) {  // SetFolding does not look at stream widths; FINN's HLS build would fail
      fail("--fps ", a.fps, ": FINN's SetFolding chose a folding beyond FINN's limits (", e.what(),
           "); ask for fewer frames/s, or use --fit");
    }
    how = {{"set_folding", {{"target_fps", a.fps}, {"target_cycles_per_frame", target}, {"mvau_wwidth_max", a.wwidth_max},
                            {"two_pass_relaxation", a.two_pass}}}};
  } else {
    const hw::FitResult r = hw::fit_folding(g, cm, a.wwidth_max);
    fit_result = r, fitted = true;
    if (!r.found) notes.push_back("--fit: not even the smallest design (each unit's cheapest folding and memory) fits; it is shown above");
    else
      notes.push_back(cat("--fit: ", r.fps, " frames/s", r.from_setfolding ? " (SetFolding's design was faster)" : "",
                          "; the fastest SetFolding design that fits: ",
                          r.setfolding_fps > 0 ? cat(r.setfolding_fps, " frames/s (target ", r.setfolding_target, " cycles)")
                                               : std::string("none")));
    how = {{"fit", {{"found", r.found}, {"fps", r.fps}, {"setfolding_fps", r.setfolding_fps},
                    {"setfolding_target_cycles", r.setfolding_target}, {"from_setfolding", r.from_setfolding}}}};
  }
  const hw::Plan p = hw::evaluate(g, cm);
  const bool fit_failed = how.contains("fit") && !how["fit"]["found"].get<bool>();
  if (!a.output.empty() && !fit_failed) write_output(a.output, hw::folding_json(g).dump(2) + "\n");
  const hw::FilterRounding rounding =
      a.filter_rounding == "nearest" ? hw::FilterRounding::kNearest : hw::FilterRounding::kDown;
  std::optional<hw::PruningReport> pruning;
  std::optional<hw::WhatIfReport> what_if;
  std::optional<hw::GreedyReport> greedy;
  hw::GreedyOptions greedy_opt;
  std::optional<hw::ZeroSkipReport> zero_skip;
  if (a.pruning) pruning = hw::pruning_report(desc, g, p, cm, fitted ? &fit_result : nullptr);
  if (!a.prune_cuts.empty()) what_if = hw::prune_what_if(desc, cm, a.prune_cuts, 3, rounding);
  if (a.prune_target > 0) {
    greedy_opt.target_speedup = a.prune_target, greedy_opt.rounding = rounding;
    greedy = hw::greedy_prune(desc, cm, greedy_opt);
  }
  if (a.zero_skip) zero_skip = hw::zero_skip_report(desc, g, p, a.zs);
  else if (hw::has_zero_weights(desc))
    notes.push_back("some layers have zero weights: --zero-skip shows what skipping them (thesis 3.4) would gain");
  if (a.json_out) {
    nlohmann::json j = hw::plan_json(g, p, cm);
    j["folding_from"] = how;
    j["notes"] = notes;
    if (a.roofline) j["roofline"] = hw::roofline_json(g, cm.device, cm.clock_mhz, p.fps);
    if (pruning) j["pruning"] = hw::pruning_json(*pruning);
    if (what_if) j["prune_what_if"] = hw::what_if_json(*what_if);
    if (greedy) j["prune_greedy"] = hw::greedy_json(*greedy);
    if (zero_skip) j["zero_skip"] = hw::zero_skip_json(*zero_skip);
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << hw::plan_text(g, p, cm);
    for (const std::string& n : notes) std::cout << n << "\n";
    if (a.roofline) std::cout << "\n" << hw::roofline_text(g, cm.device, cm.clock_mhz, p.fps);
    if (pruning) std::cout << "\n" << hw::pruning_text(*pruning);
    if (what_if) std::cout << "\n" << hw::what_if_text(*what_if);
    if (greedy) std::cout << "\n" << hw::greedy_text(*greedy, greedy_opt);
    if (zero_skip) std::cout << "\n" << hw::zero_skip_text(*zero_skip);
    if (!a.output.empty() && !fit_failed) std::cout << "Folding written to " << a.output << "\n";
  }
  std::cout.flush();
  if (fit_failed)  // the report above shows the smallest design and what it exceeds
    fail("--fit: no folding of '", g.model, "' fits ", cm.device.name, a.output.empty() ? "" : " (nothing written to -o)");
  return 0;
}

}  // namespace

Action add_hw_command(CLI::App& app) {
  CLI::App* hw = app.add_subcommand("hw", "FPGA dataflow hardware: plan a model's folding, cycles and resources; generate, simulate and synthesize its Verilog");
  hw->require_subcommand(1);
  auto args = std::make_shared<PlanArgs>();
  CLI::App* plan = hw->add_subcommand(
      "plan",
      "Plan a FINN-style streaming dataflow design (MVAU / SWU / pool units) of a model: folding (PE, SIMD), cycles, "
      "fps, latency and LUT/BRAM/DSP against a board. Without --fps or --folding, --fit is implied.");
  CLI::Option* file = plan->add_option("file", args->file, "A model file (.lbm) from lowbit export");
  add_model_options(*plan, args->model, /*required=*/false);
  plan->add_option("--input", args->input, "Per-sample input shape for --model, e.g. 1 28 28 or 3 32 32")
      ->expected(1, 3)
      ->capture_default_str()
      ->check(whole_in(1, 1 << 16));
  plan->add_option("--classes", args->classes, "Number of classes for --model")->capture_default_str()->check(whole_in(1, 1 << 16));
  file->excludes(plan->get_option("--model"));
  for (const char* flag : {"--weights", "--acts", "--input-bits", "--input-quantizer", "--last-bn", "--activation",
                           "--dropout", "--input", "--classes"})
    plan->get_option(flag)->needs(plan->get_option("--model"));
  plan->add_option("--board", args->board,
                   "Board or part (pynq-z1, pynq-z2, zc706, ultra96, kcu1500, u250, xc7z020, ..., ice40hx8k, ice40up5k; "
                   "`lowbit hw devices` lists them) or a device JSON file")
      ->capture_default_str()
      ->check(non_empty());
  plan->add_option("--clock-mhz", args->clock_mhz, "Clock in MHz, 1..2000 (default: the device's, 100 on Zynq)")
      ->check(real_in(1, 2000));
  CLI::Option* fps = plan->add_option("--fps", args->fps, "Fold with FINN's SetFolding for this many frames per second")
                         ->check(real_in(0, 1e12, /*lo_open=*/true));
  CLI::Option* folding =
      plan->add_option("--folding", args->folding, "Fold as a FINN folding-config JSON file says (per unit PE, SIMD, ram_style)")
          ->check(non_empty());
  CLI::Option* fit = plan->add_flag("--fit", args->fit,
                                    "Search the fastest folding that fits the board (resource-aware; never slower than "
                                    "the fastest SetFolding design that fits)");
  fps->excludes(folding)->excludes(fit);
  folding->excludes(fit);
  plan->add_option("--resources", args->resources,
                   "Resource model: finn (FINN's analytical formulas, exactly), calibrated (lowbit's per-primitive "
                   "memory mapping and per-lane logic; uncalibrated until --calibration), or auto (finn on Xilinx "
                   "parts, calibrated on iCE40)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "finn", "calibrated"}));
  plan->add_option("--calibration", args->calibration, "Coefficients of the calibrated model (JSON, docs/HARDWARE.md)")
      ->check(non_empty());
  plan->add_option("--utilization", args->utilization, "Share of each device resource a design may use, in (0, 1]")
      ->capture_default_str()
      ->check(real_in(0, 1, /*lo_open=*/true));
  plan->add_option("--mvau-wwidth-max", args->wwidth_max, "SetFolding's cap on an MVAU's weight bits per PE (FINN: 36)")
      ->capture_default_str()
      ->check(whole_in(1, 8191));
  CLI::Option* no_two_pass = plan->add_flag("!--no-two-pass", args->two_pass, "SetFolding without its second, balancing pass");
  CLI::Option* wwidth = plan->get_option("--mvau-wwidth-max");
  no_two_pass->excludes(folding);
  wwidth->excludes(folding);
  plan->add_flag("--json", args->json_out, "Print the plan as JSON");
  plan->add_flag("--roofline", args->roofline,
                 "Also print ops per frame by precision, cost per op, the device's peak and the roofline");
  plan->add_option("-o,--output", args->output, "Write the chosen folding as a FINN folding-config JSON file")
      ->check(non_empty());
  plan->add_flag("--pruning", args->pruning,
                 "Also print the thesis's layer costs (eqs 4.5-4.7: OPS, PE reuse, feature-map BRAM) per layer, the "
                 "binding resource and the layers to prune first (docs/HARDWARE.md, \"Pruning costs\")");
  CLI::Option* what_if =
      plan->add_option("--prune-what-if", args->prune_cuts,
                       "Re-fit the model with filters cut by these fractions (e.g. 0.25 0.5): each prunable layer alone "
                       "and the top 2 and 3 ranked layers together, at the same budget")
          ->expected(1, 8)
          ->check(real_in(0, 0.99, /*lo_open=*/true));
  CLI::Option* target =
      plan->add_option("--prune-target", args->prune_target,
                       "Run the thesis's Algorithm 3 on hardware alone (no retraining): cut 10% of the top-ranked "
                       "layer's filters per step and re-fit until fps reaches this multiple of the unpruned fit's "
                       "(e.g. 1.5), no layer below half its filters")
          ->check(real_in(1, 100));
  plan->add_option("--filter-rounding", args->filter_rounding,
                   "How a cut filter count is rounded to the layer's filter step (its PE, and the next layer's SIMD): "
                   "down (prune a bit more; the default) or nearest")
      ->capture_default_str()
      ->check(CLI::IsMember({"down", "nearest"}));
  plan->add_flag("--zero-skip", args->zero_skip,
                 "Also print what skipping zero weights would gain (thesis 3.4: RLE decoders, C_e = gamma (C_op + C_dec/R)): "
                 "per MVAU gamma, the densest row, decoders, cycles, and fps at the same folding and at equal LUTs");
  plan->add_option("--zs-batch", args->zs.batch, "--zero-skip: frames B that share a decoded weight (R = B x P for a conv)")
      ->capture_default_str()
      ->check(whole_in(1, 1 << 20));
  plan->add_option("--zs-op-luts", args->zs.op_luts, "--zero-skip: LUTs of a binary MAC, C_op (thesis: 5)")
      ->capture_default_str()
      ->check(real_in(0, 1e6, /*lo_open=*/true));
  plan->add_option("--zs-decoder-luts", args->zs.decoder_luts, "--zero-skip: LUTs of an RLE decoder, C_dec (thesis: 112)")
      ->capture_default_str()
      ->check(real_in(0, 1e6));
  // The what-ifs compare --fit designs with FINN's default SetFolding cap (36).
  what_if->excludes(fps)->excludes(folding)->excludes(wwidth);
  target->excludes(fps)->excludes(folding)->excludes(wwidth);
  plan->footer(kExitCodesHelp);

  CLI::App* devices = hw->add_subcommand("devices", "List the built-in FPGA parts and boards");
  devices->footer("Add a part with a JSON file given to --board (docs/HARDWARE.md, \"Devices\").");
  const std::vector<HwSubcommand> more = {add_hw_rtl_command(*hw), add_hw_sim_command(*hw), add_hw_synth_command(*hw)};

  return [args, devices, fps, more]() {
    for (const HwSubcommand& m : more)
      if (m.first->parsed()) return m.second();
    if (devices->parsed()) {
      for (const hw::Device& d : hw::builtin_devices())
        std::cout << hw::device_line(d) << "; default clock " << d.clock_mhz << " MHz"
                  << (d.ddr_gbps > 0 ? cat("; DRAM ", d.ddr_gbps, " GB/s") : std::string("; no DRAM")) << "\n";
      return 0;
    }
    if (args->calibration.size() && args->resources == "finn") usage_fail("--calibration applies to --resources calibrated");
    if (!fps->count() && args->folding.empty()) args->fit = true;
    return run_plan(*args);
  };
}

}  // namespace lowbit::cli
