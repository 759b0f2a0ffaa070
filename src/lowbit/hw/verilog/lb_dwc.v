// lb_dwc: a stream data-width converter (FINN's StreamingDataWidthConverter) between units
// whose beats carry different numbers of elements: gathers R = OUT_E / IN_E input beats
// into one output beat, or scatters one input beat into R = IN_E / OUT_E output beats.
// Element 0 is the low bits of a beat and comes first in the stream, so the element order is
// kept. One of IN_E, OUT_E must divide the other (the generator chains two converters through
// the least common multiple otherwise). One beat per clock in the narrow direction.
`timescale 1ns/1ps
module lb_dwc #(
  parameter IN_E = 1,   // elements per input beat
  parameter OUT_E = 1,  // elements per output beat
  parameter EB = 1      // bits per element
) (
  input  wire                clk,
  input  wire                rst,
  input  wire                in_valid,
  output wire                in_ready,
  input  wire [IN_E*EB-1:0]  in_data,
  output wire                out_valid,
  input  wire                out_ready,
  output wire [OUT_E*EB-1:0] out_data
);
  generate
    if (OUT_E == IN_E) begin : g_pass
      assign out_valid = in_valid;
      assign in_ready = out_ready;
      assign out_data = in_data;
    end else if (OUT_E > IN_E) begin : g_gather
      localparam R = OUT_E / IN_E;
      localparam CW = $clog2(R + 1);
      reg [OUT_E*EB-1:0] buffer;
      reg [CW-1:0] count;
      assign out_valid = count == R;
      assign out_data = buffer;
      assign in_ready = count != R || out_ready;
      always @(posedge clk) begin
        if (rst) count <= 0;
        else if (out_valid && out_ready) begin
          if (in_valid) begin
            buffer[0 +: IN_E*EB] <= in_data;
            count <= 1;
          end else count <= 0;
        end else if (in_valid && in_ready) begin
          buffer[count*IN_E*EB +: IN_E*EB] <= in_data;
          count <= count + 1'b1;
        end
      end
    end else begin : g_scatter
      localparam R = IN_E / OUT_E;
      localparam CW = R > 1 ? $clog2(R) : 1;
      reg [IN_E*EB-1:0] buffer;
      reg [CW-1:0] index;
      reg full;
      wire last = index == R - 1;
      assign out_valid = full;
      assign out_data = buffer[index*OUT_E*EB +: OUT_E*EB];
      assign in_ready = !full || (out_ready && last);
      always @(posedge clk) begin
        if (rst) begin
          full <= 1'b0;
          index <= 0;
        end else begin
          if (full && out_ready) begin
            index <= last ? 0 : index + 1'b1;
            if (last) full <= 1'b0;
          end
          if (in_valid && in_ready) begin
            buffer <= in_data;
            full <= 1'b1;
          end
        end
      end
    end
  endgenerate
endmodule
