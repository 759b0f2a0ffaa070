// lb_swu: the sliding window unit (FINN's ConvolutionInputGenerator): a padded (IH, IW, C)
// map in, for every output pixel (oy, ox) its KH x KW window out in (ky, kx, c) order, the
// order of the MVAU's weight columns; C/SIMD beats of SIMD channels per tap.
// A line buffer of NR = KH + max(S, KH) rows (each IW * C/SIMD words of SIMD elements; one
// simple-dual-port memory, block RAM when large) lets the writer store the next S input rows
// while the reader emits the windows of one output row, and the first KH rows of the next
// frame while it emits the last (FINN's K + S rows leave a bubble at every frame boundary,
// which throttles a bottleneck MVAU behind the SWU by ~2% in CNV), so a frame takes about
//   IW*KH*C/SIMD (first KH rows) + OH * max(OW*KW*KH*C/SIMD, S*IW*C/SIMD)
// clocks, finn-hlslib's figure. Input rows no window reads (when (IH - KH) is not a multiple
// of S) are consumed and dropped. The reader's memory output register is the stream output.
`timescale 1ns/1ps
module lb_swu #(
  parameter IH = 3, parameter IW = 3, parameter C = 1, parameter SIMD = 1,
  parameter KH = 3, parameter KW = 3, parameter S = 1,
  parameter OH = 1, parameter OW = 1,
  parameter EB = 1
) (
  input  wire               clk,
  input  wire               rst,
  input  wire               in_valid,
  output wire               in_ready,
  input  wire [SIMD*EB-1:0] in_data,
  output reg                out_valid,
  input  wire               out_ready,
  output reg  [SIMD*EB-1:0] out_data
);
  localparam CF = C / SIMD;
  localparam RW = IW * CF;              // words per buffered row
  localparam NR = KH + (S > KH ? S : KH);  // buffered rows
  localparam DEPTH = NR * RW;
  localparam USED = (OH - 1) * S + KH;  // input rows some window reads
  localparam AW = $clog2(DEPTH + 1);
  localparam RWW = $clog2(RW + 1);
  localparam NRW = $clog2(NR + 1);
  localparam KWCF = KW * CF;

  reg [SIMD*EB-1:0] mem [0:DEPTH-1];

  // Writer: input row wy into slot wslot (base address wbase), column word wcol.
  reg [$clog2(IH + 1)-1:0] wy;
  reg [RWW-1:0] wcol;
  reg [AW-1:0] wbase;
  reg [NRW-1:0] avail;                  // complete rows held that the reader has not released
  wire store = wy < USED;
  assign in_ready = !store || avail < NR;
  wire wfire = in_valid && in_ready;
  wire row_done = wfire && wcol == RW - 1 && store;

  // Reader: output row oy, pixel ox, window row ky (slot base kbase), column word kcol
  // within the window row (kx * CF + channel fold), window start column wstart = ox*S*CF.
  reg [$clog2(OH + 1)-1:0] oy;
  reg [$clog2(OW + 1)-1:0] ox;
  reg [$clog2(KH + 1)-1:0] ky;
  reg [$clog2(KWCF + 1)-1:0] kcol;
  reg [RWW-1:0] wstart;
  reg [AW-1:0] rbase, kbase;            // slot base of the window's first row / of row ky
  wire en = !out_valid || out_ready;
  // Rows the current output row needs complete: its window's KH, and (when the stride
  // skips rows) the S rows it releases afterwards.
  localparam NEED = S > KH ? S : KH;
  wire rfire = en && avail >= (oy == OH - 1 ? KH : NEED);
  wire last_col = kcol == KWCF - 1;
  wire last_ky = ky == KH - 1;
  wire last_ox = ox == OW - 1;
  wire row_end = rfire && last_col && last_ky && last_ox;
  wire frame_end = row_end && oy == OH - 1;
  wire [NRW-1:0] freed = frame_end ? KH : (row_end ? S : 0);
  // The slot base d rows after base b, modulo the buffer.
  function [AW-1:0] advance(input [AW-1:0] b, input integer d);
    begin
      advance = (b + d * RW >= DEPTH) ? b + d * RW - DEPTH : b + d * RW;
    end
  endfunction

  always @(posedge clk) begin
    if (wfire && store) mem[wbase + wcol] <= in_data;
    if (rfire) out_data <= mem[kbase + wstart + kcol];
  end

  always @(posedge clk) begin
    if (rst) begin
      wy <= 0; wcol <= 0; wbase <= 0; avail <= 0;
      oy <= 0; ox <= 0; ky <= 0; kcol <= 0; wstart <= 0; rbase <= 0; kbase <= 0;
      out_valid <= 1'b0;
    end else begin
      avail <= avail + row_done - freed;
      if (wfire) begin
        if (wcol == RW - 1) begin
          wcol <= 0;
          wy <= (wy == IH - 1) ? 0 : wy + 1'b1;
          if (store) wbase <= advance(wbase, 1);
        end else wcol <= wcol + 1'b1;
      end
      if (en) out_valid <= rfire;
      if (rfire) begin
        if (!last_col) kcol <= kcol + 1'b1;
        else begin
          kcol <= 0;
          if (!last_ky) begin
            ky <= ky + 1'b1;
            kbase <= advance(kbase, 1);
          end else begin
            ky <= 0;
            if (!last_ox) begin
              ox <= ox + 1'b1;
              wstart <= wstart + S * CF;
              kbase <= rbase;
            end else begin
              ox <= 0;
              wstart <= 0;
              oy <= (oy == OH - 1) ? 0 : oy + 1'b1;
              rbase <= advance(rbase, oy == OH - 1 ? KH : S);
              kbase <= advance(rbase, oy == OH - 1 ? KH : S);
            end
          end
        end
      end
    end
  end
endmodule
