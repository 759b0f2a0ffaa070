// lb_thresholding: FINN's Thresholding unit for the input quantizer (MultiThreshold on 8-bit
// pixels): each of the PE elements of a beat becomes its level #{t : x >= T[t]} under the
// NT ascending thresholds shared by every channel (the IR's input table is one table for all
// pixels). T[t] is 9 bits so that 256 means "never reached". One beat per clock, one
// register of latency.
`timescale 1ns/1ps
module lb_thresholding #(
  parameter PE = 1,               // elements per beat
  parameter IB = 8,               // input bits per element (unsigned)
  parameter OB = 1,               // output bits per element (the level)
  parameter NT = 1,               // thresholds, 2^OB - 1 or fewer
  parameter [NT*9-1:0] T = 0      // threshold t at bits [9t +: 9], ascending
) (
  input  wire             clk,
  input  wire             rst,
  input  wire             in_valid,
  output wire             in_ready,
  input  wire [PE*IB-1:0] in_data,
  output reg              out_valid,
  input  wire             out_ready,
  output reg  [PE*OB-1:0] out_data
);
  reg [PE*OB-1:0] level;
  integer e, t;
  reg [OB:0] n;
  always @* begin
    level = 0;
    for (e = 0; e < PE; e = e + 1) begin
      n = 0;
      for (t = 0; t < NT; t = t + 1)
        n = n + ({1'b0, in_data[e*IB +: IB]} >= T[t*9 +: 9]);
      level[e*OB +: OB] = n[OB-1:0];
    end
  end
  assign in_ready = !out_valid || out_ready;
  always @(posedge clk) begin
    if (rst) out_valid <= 1'b0;
    else if (in_ready) begin
      out_valid <= in_valid;
      if (in_valid) out_data <= level;
    end
  end
endmodule
