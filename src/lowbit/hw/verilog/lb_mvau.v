// lb_mvau: the matrix-vector-threshold unit (FINN's MVAU; Umuroglu et al., FPGA 2017,
// section 4.2): for every input vector of MW elements (MW/SIMD beats of SIMD elements), the
// MH dot products acc[o] = sum_k W[o][k] x[k] in PE lanes of SIMD multipliers each, output
// fold nf computing rows nf*PE .. nf*PE+PE-1; then either the thresholds (level
// #{t : acc >= T[o][t]}, FINN's MultiThreshold) or, with NT = 0, the raw accumulators.
// Beat order: for each vector, nf = 0 .. NF-1, sf = 0 .. SF-1; the input beats are taken
// from the stream during nf = 0 and replayed from an input buffer for nf > 0, so a vector
// takes NF*SF clocks (FINN's (MH/PE)(MW/SIMD)).
// Values: x is the value of its code: IN_MODE 0 +-1 (bit 1 = +1), 1 code - IN_ZP, 2 a signed
// IB-bit integer; W_MODE 0 +-1 weights (bit 1 = +1), 1 signed WB-bit integers. With both +-1
// the lane is an XNOR and a SIMD-wide popcount: sum = 2 popcount(~(w ^ x)) - SIMD.
// Memories (one address for all PEs, so the per-PE memories are one word of PE slices):
//   weights    NF*SF words, word nf*SF + sf, PE p at bits [p*SIMD*WB +: SIMD*WB], element i
//              (column sf*SIMD + i of row nf*PE + p) at [i*WB +: WB] of the slice;
//   thresholds NF words, PE p's NT thresholds at [(p*NT + t)*AW +: AW], ascending, signed.
// Pipeline: issue (memory reads) -> lane sums -> accumulate -> thresholds -> output register;
// every stage advances only while the output register can move (en), so back-pressure
// stalls the unit without dropping or repeating a beat.
`timescale 1ns/1ps
module lb_mvau #(
  parameter MW = 4, parameter MH = 4, parameter SIMD = 1, parameter PE = 1,
  parameter IB = 1, parameter IN_MODE = 0, parameter IN_ZP = 0,
  parameter WB = 1, parameter W_MODE = 0,
  parameter SW = 8,              // bits of one PE's SIMD sum (signed)
  parameter AW = 16,             // bits of the accumulator and the thresholds (signed)
  parameter NT = 1,              // thresholds per row; 0: raw accumulators out
  parameter OB = 1,              // bits per output element (AW when NT = 0)
  parameter WFILE = "weights.mem",
  parameter TFILE = "thresholds.mem"
) (
  input  wire               clk,
  input  wire               rst,
  input  wire               in_valid,
  output wire               in_ready,
  input  wire [SIMD*IB-1:0] in_data,
  output reg                out_valid,
  input  wire               out_ready,
  output reg  [PE*OB-1:0]   out_data
);
  localparam NF = MH / PE, SF = MW / SIMD;
  localparam WDEPTH = NF * SF;
  localparam NTW = NT > 0 ? NT : 1;
  localparam XNOR = IN_MODE == 0 && W_MODE == 0;
  localparam VW = IB + 2, WW = WB + 1;

  reg [PE*SIMD*WB-1:0] wmem [0:WDEPTH-1];
  reg [PE*NTW*AW-1:0] tmem [0:NF-1];
  initial begin
    $readmemh(WFILE, wmem);
    if (NT > 0) $readmemh(TFILE, tmem);
  end

  wire en = !out_valid || out_ready;
  reg [$clog2(NF + 1)-1:0] nf;
  reg [$clog2(SF + 1)-1:0] sf;
  reg [$clog2(WDEPTH + 1)-1:0] waddr;
  wire direct = nf == 0;
  assign in_ready = en && direct;
  wire issue = en && (!direct || in_valid);

  // Stage 1: memory outputs and the input word.
  reg [PE*SIMD*WB-1:0] w1;
  reg [PE*NTW*AW-1:0] t1;
  reg [SIMD*IB-1:0] x_direct, x_buffered;
  reg v1, first1, last1, direct1;
  generate
    if (NF > 1) begin : g_ibuf
      reg [SIMD*IB-1:0] ibuf [0:SF-1];
      always @(posedge clk) begin
        if (issue && direct) ibuf[sf] <= in_data;
        if (en) x_buffered <= ibuf[sf];
      end
    end
  endgenerate
  always @(posedge clk) begin
    if (en) begin
      w1 <= wmem[waddr];
      t1 <= tmem[nf];
      x_direct <= in_data;
    end
  end
  wire [SIMD*IB-1:0] x1 = direct1 ? x_direct : x_buffered;

  // Lane sums of stage 1.
  reg [PE*SW-1:0] sums;
  integer p, i;
  reg signed [SW-1:0] s, prod;
  reg signed [VW-1:0] xv;
  reg signed [WW-1:0] wv;
  reg [$clog2(SIMD + 1)-1:0] pc;
  reg same;  // one lane's XNOR, on its own: inside `pc + (a ~^ b)` Verilog widens a and b first
  always @* begin
    for (p = 0; p < PE; p = p + 1) begin
      s = 0;
      pc = 0;
      for (i = 0; i < SIMD; i = i + 1) begin
        if (XNOR) begin
          same = w1[p*SIMD + i] ~^ x1[i];
          pc = pc + same;
        end
        else begin
          if (IN_MODE == 0) xv = x1[i*IB] ? 1 : -1;
          else if (IN_MODE == 1) xv = $signed({2'b00, x1[i*IB +: IB]}) - IN_ZP;
          else xv = $signed(x1[i*IB +: IB]);
          if (W_MODE == 0) wv = w1[(p*SIMD + i)*WB] ? 1 : -1;
          else wv = $signed(w1[(p*SIMD + i)*WB +: WB]);
          prod = xv * wv;
          s = s + prod;
        end
      end
      if (XNOR) s = $signed({1'b0, pc}) * 2 - SIMD;
      sums[p*SW +: SW] = s;
    end
  end

  // Stage 2: sums; stage 3: finished accumulators.
  reg [PE*SW-1:0] sums2;
  reg [PE*NTW*AW-1:0] t2, t3;
  reg v2, first2, last2, v3;
  reg [PE*AW-1:0] acc, acc3;
  reg signed [AW-1:0] a_old, a_new;
  reg signed [SW-1:0] sp;
  reg [PE*AW-1:0] acc_next;
  always @* begin
    for (p = 0; p < PE; p = p + 1) begin
      a_old = acc[p*AW +: AW];
      sp = sums2[p*SW +: SW];
      a_new = (first2 ? 0 : a_old) + sp;
      acc_next[p*AW +: AW] = a_new;
    end
  end

  // Output codes of stage 3.
  reg [PE*OB-1:0] codes;
  reg signed [AW-1:0] av, tv;
  integer t;
  reg [OB:0] n;
  always @* begin
    codes = 0;
    for (p = 0; p < PE; p = p + 1) begin
      av = acc3[p*AW +: AW];
      if (NT == 0) codes[p*OB +: OB] = av;
      else begin
        n = 0;
        for (t = 0; t < NT; t = t + 1) begin
          tv = t3[(p*NTW + t)*AW +: AW];
          if (av >= tv) n = n + 1'b1;
        end
        codes[p*OB +: OB] = n[OB-1:0];
      end
    end
  end

  always @(posedge clk) begin
    if (rst) begin
      nf <= 0; sf <= 0; waddr <= 0;
      v1 <= 1'b0; v2 <= 1'b0; v3 <= 1'b0; out_valid <= 1'b0;
    end else if (en) begin
      // Stage 0: the beat counters.
      v1 <= issue;
      first1 <= sf == 0;
      last1 <= sf == SF - 1;
      direct1 <= direct;
      if (issue) begin
        waddr <= (waddr == WDEPTH - 1) ? 0 : waddr + 1'b1;
        if (sf == SF - 1) begin
          sf <= 0;
          nf <= (nf == NF - 1) ? 0 : nf + 1'b1;
        end else sf <= sf + 1'b1;
      end
      // Stage 1 -> 2.
      v2 <= v1;
      first2 <= first1;
      last2 <= last1;
      sums2 <= sums;
      t2 <= t1;
      // Stage 2 -> 3.
      if (v2) acc <= acc_next;
      v3 <= v2 && last2;
      if (v2 && last2) begin
        acc3 <= acc_next;
        t3 <= t2;
      end
      // Stage 3 -> output.
      out_valid <= v3;
      if (v3) out_data <= codes;
    end
  end
endmodule
