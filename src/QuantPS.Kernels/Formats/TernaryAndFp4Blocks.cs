namespace QuantPS.Kernels.Formats;

// Ternary (BitNet-style) blocks and the 4-bit float microscaling formats.

// 240 values five to a byte, then 16 values four to a byte.
[GgmlBlock(34, "TQ1_0", "tq1_0", blockSize: 256, typeSize: 54)]
[Trits("Qs", count: 240, perByte: 5)]
[Trits("Qh", count: 16, perByte: 4)]
[Scale("D", NumberFormat.F16)]
[Reconstruct(ValueScheme.Scaled, Offset = -1)]                          // x = d * (t - 1), t the base-3 digit
[Activation("Q8_K")]
public partial struct BlockTQ1_0;

[GgmlBlock(35, "TQ2_0", "tq2_0", blockSize: 256, typeSize: 66)]
[Quants("Qs", bits: 2, count: 256, Order = QuantOrder.Interleaved32)]
[Scale("D", NumberFormat.F16)]
[Reconstruct(ValueScheme.Scaled, Offset = -1)]                          // x = d * (q - 1): -1, 0, 1 (and 2)
[Activation("Q8_K")]
public partial struct BlockTQ2_0;

[GgmlBlock(39, "MXFP4", "mxfp4", blockSize: 32, typeSize: 17)]
[Scale("E", NumberFormat.E8M0)]
[Quants("Qs", bits: 4, count: 32, Codebook = "E2M1", Order = QuantOrder.SplitHalves)]
[Reconstruct(ValueScheme.Codebook)]
[Activation("Q8_0")]
public partial struct BlockMXFP4;

// One UE4M3 scale per 16 values.
[GgmlBlock(40, "NVFP4", "nvfp4", blockSize: 64, typeSize: 36)]
[SubScales("D", bits: 8, count: 4, Format = NumberFormat.UE4M3)]
[Quants("Qs", bits: 4, count: 64, Codebook = "E2M1", Order = QuantOrder.SplitHalves16)]
[Reconstruct(ValueScheme.SubScaledCodebook)]                            // x = ue4m3(d[j]) * 0.5 * E2M1x2[q], 16 per j
[Activation("Q8_0")]
public partial struct BlockNVFP4;
