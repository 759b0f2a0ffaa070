// lb_fmpadding: FINN's FMPadding unit: a (IH, IW, C) map in, the (IH+PT+PB, IW+PL+PR, C) map
// out, pixels in row-major order with C/SIMD beats of SIMD channels each. Padded pixels carry
// PAD_CODE in every element: the code of the layer's pad value (lowbit pads with the value
// training padded with: -1, +1 or an exact 0, unlike FINN whose unit pads code 0).
// PM1_TO_INT2 = 1 widens +-1 codes (1 bit, 1 = +1) to 2-bit two's complement values (+1 = 01,
// -1 = 11) so that a padded tap can be an exact 0 (00): the next MVAU then multiplies INT2
// inputs by its +-1 weights. One output beat per clock (C/SIMD * OH * OW per frame).
`timescale 1ns/1ps
module lb_fmpadding #(
  parameter IH = 1, parameter IW = 1, parameter C = 1, parameter SIMD = 1,
  parameter PT = 0, parameter PL = 0, parameter PB = 0, parameter PR = 0,
  parameter IB = 1,              // bits per input element
  parameter OB = 1,              // bits per output element (IB, or 2 with PM1_TO_INT2)
  parameter PM1_TO_INT2 = 0,
  parameter [OB-1:0] PAD_CODE = 0
) (
  input  wire               clk,
  input  wire               rst,
  input  wire               in_valid,
  output wire               in_ready,
  input  wire [SIMD*IB-1:0] in_data,
  output reg                out_valid,
  input  wire               out_ready,
  output reg  [SIMD*OB-1:0] out_data
);
  localparam OH = IH + PT + PB, OW = IW + PL + PR, CF = C / SIMD;
  reg [$clog2(OH + 1)-1:0] y;
  reg [$clog2(OW + 1)-1:0] x;
  reg [$clog2(CF + 1)-1:0] f;
  wire pad = y < PT || y >= PT + IH || x < PL || x >= PL + IW;
  wire can = !out_valid || out_ready;
  assign in_ready = can && !pad;
  wire fire = can && (pad || in_valid);
  reg [SIMD*OB-1:0] word;
  integer e;
  always @* begin
    for (e = 0; e < SIMD; e = e + 1) begin
      if (pad) word[e*OB +: OB] = PAD_CODE;
      else if (PM1_TO_INT2) word[e*OB +: OB] = in_data[e*IB] ? 1 : {OB{1'b1}};
      else word[e*OB +: OB] = in_data[e*IB +: IB];
    end
  end
  always @(posedge clk) begin
    if (rst) begin
      out_valid <= 1'b0;
      y <= 0; x <= 0; f <= 0;
    end else begin
      if (out_valid && out_ready) out_valid <= 1'b0;
      if (fire) begin
        out_valid <= 1'b1;
        out_data <= word;
        if (f == CF - 1) begin
          f <= 0;
          if (x == OW - 1) begin
            x <= 0;
            y <= (y == OH - 1) ? 0 : y + 1'b1;
          end else x <= x + 1'b1;
        end else f <= f + 1'b1;
      end
    end
  end
endmodule
