namespace QuantPS.Kernels.Formats;

// K-quants: 256-value super-blocks split into 16 or 8 sub-blocks with their own quantized scales.

[GgmlBlock(10, "Q2_K", "q2_K", blockSize: 256, typeSize: 84)]
[SubScales("Scales", bits: 4, count: 16, WithMins = true, Order = QuantOrder.ScaleMinPairs)]
[Quants("Qs", bits: 2, count: 256, Order = QuantOrder.Interleaved32)]
[Scale("D", NumberFormat.F16)]
[Min("DMin", NumberFormat.F16)]
[Reconstruct(ValueScheme.SubScaledWithMin)]                              // x = d * s[j] * q - dmin * m[j], 16 per j
[Activation("Q8_K")]
public partial struct BlockQ2_K;

[GgmlBlock(11, "Q3_K", "q3_K", blockSize: 256, typeSize: 110)]
[HighBits("HMask", bits: 1, count: 256, Order = QuantOrder.Interleaved32)]
[Quants("Qs", bits: 2, count: 256, Order = QuantOrder.Interleaved32)]
[SubScales("Scales", bits: 6, count: 16, Order = QuantOrder.ScalesK3, Offset = -32)]
[Scale("D", NumberFormat.F16)]
[Reconstruct(ValueScheme.SubScaled, Offset = -4)]                        // x = d * (s[j] - 32) * ((q | h << 2) - 4)
[Activation("Q8_K")]
public partial struct BlockQ3_K;

[GgmlBlock(12, "Q4_K", "q4_K", blockSize: 256, typeSize: 144)]
[Scale("D", NumberFormat.F16)]
[Min("DMin", NumberFormat.F16)]
[SubScales("Scales", bits: 6, count: 8, WithMins = true, Order = QuantOrder.ScaleMinK4)]
[Quants("Qs", bits: 4, count: 256, Order = QuantOrder.Interleaved32)]
[Reconstruct(ValueScheme.SubScaledWithMin)]                              // 32 values per j
[Activation("Q8_K")]
public partial struct BlockQ4_K;

[GgmlBlock(13, "Q5_K", "q5_K", blockSize: 256, typeSize: 176)]
[Scale("D", NumberFormat.F16)]
[Min("DMin", NumberFormat.F16)]
[SubScales("Scales", bits: 6, count: 8, WithMins = true, Order = QuantOrder.ScaleMinK4)]
[HighBits("Qh", bits: 1, count: 256, Order = QuantOrder.Interleaved32)]
[Quants("Qs", bits: 4, count: 256, Order = QuantOrder.Interleaved32)]
[Reconstruct(ValueScheme.SubScaledWithMin)]
[Activation("Q8_K")]
public partial struct BlockQ5_K;

[GgmlBlock(14, "Q6_K", "q6_K", blockSize: 256, typeSize: 210)]
[Quants("Ql", bits: 4, count: 256, Order = QuantOrder.Interleaved64)]
[HighBits("Qh", bits: 2, count: 256, Order = QuantOrder.Interleaved32)]
[SubScales("Scales", bits: 8, count: 16, Signed = true)]
[Scale("D", NumberFormat.F16)]
[Reconstruct(ValueScheme.SubScaled, Offset = -32)]                       // x = d * s[j] * ((ql | qh << 4) - 32)
[Activation("Q8_K")]
public partial struct BlockQ6_K;

// Activation format of the K-quants and IQ types; BSums holds the sum of each 16 quants.
[GgmlBlock(15, "Q8_K", "q8_K", blockSize: 256, typeSize: 292)]
[Scale("D", NumberFormat.F32)]
[Quants("Qs", bits: 8, count: 256, Signed = true)]
[GroupSums("BSums", bits: 16, count: 16, Signed = true)]
[Reconstruct(ValueScheme.Scaled)]
[Activation("Q8_K")]
[ActivationQuantizer(QuantizerRule.SignedAbsMax)]
public partial struct BlockQ8_K;
