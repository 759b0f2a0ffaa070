// lb_fifo: a first-word-fall-through stream FIFO (lowbit's RTL library, docs/HARDWARE.md).
// Streams use valid/ready handshakes as AXI-Stream's TVALID/TREADY: a beat moves on a rising
// clock edge where valid and ready are both 1; a producer holds valid and data until then.
// in_ready depends only on the registered count, so a FIFO breaks every combinational
// ready path between two stages. DEPTH >= 2 sustains one beat per clock.
`timescale 1ns/1ps
module lb_fifo #(
  parameter W = 8,       // bits of one beat
  parameter DEPTH = 2    // beats held, >= 1
) (
  input  wire         clk,
  input  wire         rst,       // synchronous, active high
  input  wire         in_valid,
  output wire         in_ready,
  input  wire [W-1:0] in_data,
  output wire         out_valid,
  input  wire         out_ready,
  output wire [W-1:0] out_data
);
  localparam AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
  reg [W-1:0] mem [0:DEPTH-1];
  reg [AW-1:0] rd, wr;
  reg [AW:0] count;
  wire push = in_valid && in_ready;
  wire pop = out_valid && out_ready;
  assign in_ready = count < DEPTH;
  assign out_valid = count != 0;
  assign out_data = mem[rd];
  always @(posedge clk) begin
    if (rst) begin
      rd <= 0;
      wr <= 0;
      count <= 0;
    end else begin
      if (push) begin
        mem[wr] <= in_data;
        wr <= (wr == DEPTH - 1) ? 0 : wr + 1'b1;
      end
      if (pop) rd <= (rd == DEPTH - 1) ? 0 : rd + 1'b1;
      count <= count + push - pop;
    end
  end
endmodule
