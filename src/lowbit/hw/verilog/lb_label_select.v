// lb_label_select: FINN's LabelSelect (top-1): the index of the first largest of the C scores
// of a frame, arriving E per beat. The runtime ranks the float scores y_c = score(acc_c)
// (semantics.hpp: scale, bias, BatchNorm per class), which no integer order of the
// accumulators reproduces in general, so with KEY_ROM = 1 each (class, accumulator) pair is
// looked up in a ROM of ranks: rank(c, a) = the position of score(a, c) among the sorted
// distinct scores of every class and accumulator value, equal scores equal ranks, so the
// first largest rank is training's argmax exactly. ROM word c*R + (a - AMIN). With KEY_ROM = 0
// (one strictly increasing score map for every class) the accumulators are compared directly.
// One class per clock.
`timescale 1ns/1ps
module lb_label_select #(
  parameter C = 10, parameter E = 1, parameter EB = 16,
  parameter KEY_ROM = 0,
  parameter KB = 16,             // key bits: rank bits (KEY_ROM) or EB
  parameter R = 1,               // accumulator values per class in the ROM
  parameter AMIN = 0,            // the accumulator value of ROM word 0 of a class
  parameter LB = 4,              // label bits
  parameter RFILE = "ranks.mem"
) (
  input  wire             clk,
  input  wire             rst,
  input  wire             in_valid,
  output wire             in_ready,
  input  wire [E*EB-1:0]  in_data,
  output reg              out_valid,
  input  wire             out_ready,
  output reg  [LB-1:0]    out_data
);
  localparam RD = KEY_ROM ? C * R : 1;
  reg [KB-1:0] rom [0:RD-1];
  initial if (KEY_ROM) $readmemh(RFILE, rom);

  wire en = !out_valid || out_ready;
  reg [E*EB-1:0] hold;
  reg hvalid;
  reg [$clog2(E + 1)-1:0] e;
  reg [LB-1:0] c;
  wire last_e = e == E - 1;
  assign in_ready = en && (!hvalid || last_e);
  wire signed [EB-1:0] value = hold[e*EB +: EB];
  wire signed [31:0] offset = value - AMIN;  // signed: a sum with c alone would be unsigned
  wire [31:0] addr = c * R + offset;

  reg [KB-1:0] key, best;
  reg [LB-1:0] ca, best_c;
  reg va, firsta, lasta;
  wire better = firsta || (KEY_ROM ? key > best : $signed(key) > $signed(best));
  always @(posedge clk) begin
    if (rst) begin
      hvalid <= 1'b0; e <= 0; c <= 0; va <= 1'b0; out_valid <= 1'b0;
    end else if (en) begin
      // Stage A: one class's key.
      va <= hvalid;
      if (hvalid) begin
        key <= KEY_ROM ? rom[addr[$clog2(RD + 1)-1:0]] : value;
        ca <= c;
        firsta <= c == 0;
        lasta <= c == C - 1;
        c <= (c == C - 1) ? 0 : c + 1'b1;
        e <= last_e ? 0 : e + 1'b1;
      end
      if (!hvalid || last_e) begin
        hvalid <= in_valid;
        if (in_valid) hold <= in_data;
      end
      // Stage B: the running first maximum.
      if (va && better) begin
        best <= key;
        best_c <= ca;
      end
      out_valid <= va && lasta;
      if (va && lasta) out_data <= better ? ca : best_c;
    end
  end
endmodule
