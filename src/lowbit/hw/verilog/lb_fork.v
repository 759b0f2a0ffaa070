// lb_fork: one stream to two consumers (the score accumulators to the output port and to
// LabelSelect). A beat leaves when both have taken it; each output is offered it once.
`timescale 1ns/1ps
module lb_fork #(
  parameter W = 8
) (
  input  wire         clk,
  input  wire         rst,
  input  wire         in_valid,
  output wire         in_ready,
  input  wire [W-1:0] in_data,
  output wire         a_valid,
  input  wire         a_ready,
  output wire [W-1:0] a_data,
  output wire         b_valid,
  input  wire         b_ready,
  output wire [W-1:0] b_data
);
  reg a_done, b_done;
  assign a_valid = in_valid && !a_done;
  assign b_valid = in_valid && !b_done;
  assign a_data = in_data;
  assign b_data = in_data;
  assign in_ready = (a_done || a_ready) && (b_done || b_ready);
  always @(posedge clk) begin
    if (rst || (in_valid && in_ready)) begin
      a_done <= 1'b0;
      b_done <= 1'b0;
    end else begin
      if (a_valid && a_ready) a_done <= 1'b1;
      if (b_valid && b_ready) b_done <= 1'b1;
    end
  end
endmodule
