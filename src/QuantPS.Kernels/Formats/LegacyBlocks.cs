namespace QuantPS.Kernels.Formats;

// The original per-32 (and the newer per-64/128) blocks: one scale, optional min, packed quants.

[GgmlBlock(2, "Q4_0", "q4_0", blockSize: 32, typeSize: 18)]
[Scale("D", NumberFormat.F16)]
[Quants("Qs", bits: 4, count: 32, Order = QuantOrder.SplitHalves)]
[Reconstruct(ValueScheme.Scaled, Offset = -8)]
[Activation("Q8_0")]
public partial struct BlockQ4_0;

[GgmlBlock(3, "Q4_1", "q4_1", blockSize: 32, typeSize: 20)]
[Scale("D", NumberFormat.F16)]
[Min("M", NumberFormat.F16)]
[Quants("Qs", bits: 4, count: 32, Order = QuantOrder.SplitHalves)]
[Reconstruct(ValueScheme.ScaledWithMin)]
[Activation("Q8_1")]
public partial struct BlockQ4_1;

[GgmlBlock(6, "Q5_0", "q5_0", blockSize: 32, typeSize: 22)]
[Scale("D", NumberFormat.F16)]
[HighBits("Qh", bits: 1, count: 32)]
[Quants("Qs", bits: 4, count: 32, Order = QuantOrder.SplitHalves)]
[Reconstruct(ValueScheme.Scaled, Offset = -16)]
[Activation("Q8_0")]
public partial struct BlockQ5_0;

[GgmlBlock(7, "Q5_1", "q5_1", blockSize: 32, typeSize: 24)]
[Scale("D", NumberFormat.F16)]
[Min("M", NumberFormat.F16)]
[HighBits("Qh", bits: 1, count: 32)]
[Quants("Qs", bits: 4, count: 32, Order = QuantOrder.SplitHalves)]
[Reconstruct(ValueScheme.ScaledWithMin)]
[Activation("Q8_1")]
public partial struct BlockQ5_1;

[GgmlBlock(8, "Q8_0", "q8_0", blockSize: 32, typeSize: 34)]
[Scale("D", NumberFormat.F16)]
[Quants("Qs", bits: 8, count: 32, Signed = true)]
[Reconstruct(ValueScheme.Scaled)]
[Activation("Q8_0")]
[ActivationQuantizer(QuantizerRule.AbsMax)]
public partial struct BlockQ8_0;

// Activation format paired with Q4_1/Q5_1: S caches D * sum(Qs), filled by the quantizer.
[GgmlBlock(9, "Q8_1", "q8_1", blockSize: 32, typeSize: 36)]
[Scale("D", NumberFormat.F16)]
[Sum("S", NumberFormat.F16)]
[Quants("Qs", bits: 8, count: 32, Signed = true)]
[Reconstruct(ValueScheme.Scaled)]
[Activation("Q8_1")]
[ActivationQuantizer(QuantizerRule.AbsMax)]
public partial struct BlockQ8_1;

[GgmlBlock(41, "Q1_0", "q1_0", blockSize: 128, typeSize: 18)]
[Scale("D", NumberFormat.F16)]
[Quants("Qs", bits: 1, count: 128, Codebook = "PlusMinus")]
[Reconstruct(ValueScheme.Codebook)]                                     // x = bit ? d : -d
[Activation("Q8_0")]
public partial struct BlockQ1_0;

[GgmlBlock(42, "Q2_0", "q2_0", blockSize: 64, typeSize: 18)]
[Scale("D", NumberFormat.F16)]
[Quants("Qs", bits: 2, count: 64)]
[Reconstruct(ValueScheme.Scaled, Offset = -1)]                          // x = d * (q - 1): -1, 0, 1, 2
[Activation("Q8_0")]
public partial struct BlockQ2_0;
