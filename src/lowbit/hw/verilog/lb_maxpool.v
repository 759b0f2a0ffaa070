// lb_maxpool: FINN's StreamingMaxPool on the codes of an MVAU: a (IH, IW, C) map with E of
// its C channels per beat in, the (IH/K, IW/K, C) map of the K x K window maxima (stride K)
// out. The IR pools accumulators before the thresholds; pooling the levels instead is the
// same, as every channel's level is non-decreasing in its accumulator (export sign-corrects
// the weights). +-1 codes are levels 0/1, so their maximum is an OR.
// A row buffer holds the running maxima of the IW/K windows of the current window row; the
// window's last beat goes out instead of being stored. One input beat per clock, so a frame
// takes IH * IW * C/E clocks.
`timescale 1ns/1ps
module lb_maxpool #(
  parameter C = 1, parameter E = 1, parameter IH = 2, parameter IW = 2, parameter K = 2,
  parameter EB = 1,
  parameter SIGNED = 0   // elements are signed (raw accumulators), else unsigned levels
) (
  input  wire             clk,
  input  wire             rst,
  input  wire             in_valid,
  output wire             in_ready,
  input  wire [E*EB-1:0]  in_data,
  output reg              out_valid,
  input  wire             out_ready,
  output reg  [E*EB-1:0]  out_data
);
  localparam CF = C / E, OWP = IW / K, DEPTH = OWP * CF;
  reg [E*EB-1:0] rowbuf [0:DEPTH-1];
  reg [$clog2(K + 1)-1:0] ky, kx;
  reg [$clog2(CF + 1)-1:0] f;
  reg [$clog2(DEPTH + 1)-1:0] base;     // ox * CF
  wire [$clog2(DEPTH + 1)-1:0] idx = base + f;
  wire first = ky == 0 && kx == 0;
  wire last = ky == K - 1 && kx == K - 1;
  wire en = !out_valid || out_ready;
  assign in_ready = en;
  wire fire = en && in_valid;
  wire [E*EB-1:0] held = rowbuf[idx];
  reg [E*EB-1:0] cur;
  integer e;
  always @* begin
    for (e = 0; e < E; e = e + 1) begin
      if (first) cur[e*EB +: EB] = in_data[e*EB +: EB];
      else if (SIGNED ? $signed(in_data[e*EB +: EB]) > $signed(held[e*EB +: EB])
                      : in_data[e*EB +: EB] > held[e*EB +: EB])
        cur[e*EB +: EB] = in_data[e*EB +: EB];
      else cur[e*EB +: EB] = held[e*EB +: EB];
    end
  end
  always @(posedge clk) begin
    if (fire && !last) rowbuf[idx] <= cur;
  end
  always @(posedge clk) begin
    if (rst) begin
      ky <= 0; kx <= 0; f <= 0; base <= 0;
      out_valid <= 1'b0;
    end else if (en) begin
      out_valid <= fire && last;
      if (fire) begin
        if (last) out_data <= cur;
        if (f != CF - 1) f <= f + 1'b1;
        else begin
          f <= 0;
          if (kx != K - 1) kx <= kx + 1'b1;
          else begin
            kx <= 0;
            if (base != DEPTH - CF) base <= base + CF;
            else begin
              base <= 0;
              ky <= (ky == K - 1) ? 0 : ky + 1'b1;
            end
          end
        end
      end
    end
  end
endmodule
