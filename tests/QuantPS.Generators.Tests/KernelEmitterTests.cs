using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;

namespace QuantPS.Generators.Tests;

/// <summary>What the kernel families emit for a small sample: the text, that it compiles, and that it runs.</summary>
public sealed partial class KernelEmitterTests
{
    private const string Sample = """
        namespace QuantPS.Kernels.Formats;

        [GgmlBlock(2, "Q4_0", "q4_0", blockSize: 32, typeSize: 18)]
        [Scale("D", NumberFormat.F16)]
        [Quants("Qs", bits: 4, count: 32, Order = QuantOrder.SplitHalves)]
        [Reconstruct(ValueScheme.Scaled, Offset = -8)]
        [Activation("Q8_0")]
        public partial struct BlockQ4_0;

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

        [GgmlBlock(9, "Q8_1", "q8_1", blockSize: 32, typeSize: 36)]
        [Scale("D", NumberFormat.F16)]
        [Sum("S", NumberFormat.F16)]
        [Quants("Qs", bits: 8, count: 32, Signed = true)]
        [Reconstruct(ValueScheme.Scaled)]
        [Activation("Q8_1")]
        [ActivationQuantizer(QuantizerRule.AbsMax)]
        public partial struct BlockQ8_1;

        [GgmlBlock(39, "MXFP4", "mxfp4", blockSize: 32, typeSize: 17)]
        [Scale("E", NumberFormat.E8M0)]
        [Quants("Qs", bits: 4, count: 32, Codebook = "E2M1", Order = QuantOrder.SplitHalves)]
        [Reconstruct(ValueScheme.Codebook)]
        [Activation("Q8_0")]
        public partial struct BlockMXFP4;

        [Codebook("E2M1", 0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12, Multiplier = 0.5)]
        internal static class Codebooks;
        """;

    private static readonly string[] Widths = { "Scalar", "V128", "V256", "V512" };

    [Fact]
    public void Reference_dequantizer_is_the_description_read_one_value_at_a_time()
    {
        var (result, _) = GeneratorHarness.Run(Sample);

        var text = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.Q5_1Kernels.g.cs");

        Assert.Contains(
            """
                    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
                    public static void DequantizeReferenceRow(byte* source, float* destination, long count)
                    {
                        long blocks = count / BlockSize;
                        for (long b = 0; b < blocks; b++)
                        {
                            byte* block = source + b * TypeSize;
                            float* y = destination + b * BlockSize;
                            float d = global::QuantPS.Kernels.FloatConversions.HalfToSingle(Unsafe.ReadUnaligned<ushort>(block));
                            float m = global::QuantPS.Kernels.FloatConversions.HalfToSingle(Unsafe.ReadUnaligned<ushort>(block + 2));
                            for (int i = 0; i < BlockSize; i++)
                            {
                                int q = ((((block + 8)[i % 16] >> (4 * (i / 16))) & 15) | ((((block + 4)[i / 8] >> (1 * (i % 8))) & 1) << 4));
                                y[i] = q * d + m;
                            }
                        }
                    }
            """.ReplaceLineEndings("\n"),
            text);
    }

    [Fact]
    public void Every_kernel_is_instantiated_at_every_width_from_one_template()
    {
        var (result, _) = GeneratorHarness.Run(Sample);

        var q40 = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.Q4_0Kernels.g.cs");
        foreach (var width in Widths)
        {
            Assert.Contains($"public static void DequantizeRow{width}(byte* source, float* destination, long count)", q40);
            Assert.Contains($"public static float Dot{width}(long count, byte* weights, byte* activations)", q40);
        }

        // The legacy nibble order: low nibbles are values 0-15, high nibbles 16-31; two chunks per 512-bit vector.
        Assert.Contains("var u0 = (Simd.Join(raw0, Vector128.ShiftRightLogical(raw0.AsUInt16(), 4).AsByte())) & Vector256.Create((byte)0x0F);", q40);
        Assert.Contains("var u0 = (Simd.Join(Simd.Join(raw0, Vector128.ShiftRightLogical(raw0.AsUInt16(), 4).AsByte()), Simd.Join(raw1, Vector128.ShiftRightLogical(raw1.AsUInt16(), 4).AsByte()))) & Vector512.Create((byte)0x0F);", q40);

        // Offset -8 on 4-bit quants: an unsigned multiply with a bias of 8, not the sign trick.
        Assert.Contains("var bias = Vector256.Create((byte)8);", q40);
        Assert.Contains("acc0 = Simd.MultiplyAdd(Vector256.ConvertToSingle(Simd.DotBiased(w0, y0, bias)), Vector256.Shuffle(ds.ToVector256Unsafe(), Vector256.Create(0)), acc0);", q40);
        Assert.Contains("for (; g + 3 < chunks; g += 4, row += 72, act += 136)", q40);
        Assert.Contains("result += DotScalar((chunks - g) * 32, weights + g * TypeSize, activations + g * 34);", q40);

        // The dequantizer rebuilds signed values: q - 8.
        Assert.Contains("var w0 = u0.AsSByte() + Vector512.Create((sbyte)-8);", q40);

        var q51 = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.Q5_1Kernels.g.cs");
        Assert.Contains("u0 |= Simd.ExpandBits(h0) & Vector256.Create((byte)0x10);", q51);
        Assert.Contains("u0 |= Simd.ExpandBits(h0, h1) & Vector512.Create((byte)0x10);", q51);
        Assert.Contains("minAcc += Vector128.Create(Simd.ReadHalf(b0 + 2) * Simd.ReadHalf(a0 + 2), Simd.ReadHalf(b1 + 2) * Simd.ReadHalf(a1 + 2), 0f, 0f);", q51);
        Assert.Contains("Simd.DotU8(w0, y0)", q51);

        // MXFP4: E2M1 doubled spans -12..12, so its codebook shifts by 12 into unsigned bytes.
        var mxfp4 = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.MXFP4Kernels.g.cs");
        Assert.Contains("private static readonly Vector128<byte> BiasedCodebook = Vector128.Create((byte)12, (byte)13,", mxfp4);
        Assert.Contains("var w0 = Simd.Lookup16(book, u0).AsByte();", mxfp4);
        Assert.Contains("Simd.E8M0ToSingle(b0[0], -1)", mxfp4);

        var q80 = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.Q8_0Kernels.g.cs");
        Assert.Contains("public static void QuantizeRowV512(float* source, byte* destination, long count)", q80);
        Assert.Contains("public static readonly global::QuantPS.Kernels.QuantizeRowKernel QuantizeActivation = QuantizeActivationAt(global::QuantPS.Kernels.KernelWidth.Active);", q80);
    }

    [Fact]
    public void Type_table_hangs_the_kernels_on_each_type()
    {
        var (result, output) = GeneratorHarness.Run(Sample);

        var table = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.GgmlTypeTraits.g.cs");

        Assert.Empty(result.Diagnostics);
        Assert.Empty(output.GetDiagnostics(TestContext.Current.CancellationToken).Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Contains(
            "new GgmlTypeInfo(GgmlType.Q4_0, \"Q4_0\", \"q4_0\", 32, 18, true) { ActivationType = GgmlType.Q8_0, "
            + "Dequantize = global::QuantPS.Kernels.Generated.Q4_0Kernels.Dequantize, DequantizeReference = global::QuantPS.Kernels.Generated.Q4_0Kernels.DequantizeReference, "
            + "Dot = global::QuantPS.Kernels.Generated.Q4_0Kernels.Dot, Dot4 = global::QuantPS.Kernels.Generated.Q4_0Kernels.Dot4, "
            + "DecodeIntegers = global::QuantPS.Kernels.Generated.Q4_0Kernels.DecodeIntegers, IntegerMin = -8, IntegerMax = 7, "
            + "DotPrepared = global::QuantPS.Kernels.Generated.Q4_0Kernels.DotPrepared, PrepareActivation = global::QuantPS.Kernels.Generated.Q4_0Kernels.PrepareActivation, "
            + "PreparedActivationBytes = global::QuantPS.Kernels.Generated.Q4_0Kernels.PreparedBytes },",
            table);
        Assert.Contains("GgmlType.Q8_1 => global::QuantPS.Kernels.Generated.Q8_1Kernels.QuantizeActivationAt(width),", table);
        Assert.Contains(result.GeneratedSources, source => source.HintName == "QuantPS.Kernels.KernelSupport.g.cs");
    }

    [Fact]
    public void Blocks_of_32_integers_and_one_scale_get_integer_panels()
    {
        var (result, _) = GeneratorHarness.Run(Sample);

        var panels = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.IntegerPanelKernels.g.cs");
        Assert.Contains("public static void PanelTileV512(long blocks, int* panel, short* activations, long activationStride, float* results, long resultStride)", panels);
        Assert.Contains("i3 += PairsV512(w15, Vector512.Create(a3[15]));", panels);
        Assert.Contains("Avx512F.Shuffle4x128(x31, x33, 0xDD).Store(panel + 240);", panels);
        Assert.Contains("public static void PanelTileBytesF8V512(long blocks, int* panel, sbyte* activations, long activationStride, int bias, float* results, long resultStride)", panels);
        Assert.Contains("i3 += PairsV512(h3_0.AsInt32(), ones);", panels);
        Assert.Contains("sum3 += (d * da3 * Vector512.ConvertToSingle(i3)) - (dmin * da3 * Vector512.ConvertToSingle(n3));", panels);
        Assert.Contains("public static void SuperPanelTileM0V256(", panels);
        Assert.Contains("i3 += PairsV512(h3_0.AsInt32(), scale);", panels);
        Assert.Contains("(16, 4, 8) => new global::QuantPS.Kernels.IntegerBytePanelKernel[]", panels);

        // Q4_0 decodes a step with the dequantizer's unpacking; Q5_1 has a minimum, so its blocks are not one scale times integers.
        var q40 = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.Q4_0Kernels.g.cs");
        Assert.Contains("public static void DecodeIntegersRowV512(byte* source, sbyte* values, float* scales, long count)", q40);
        Assert.Contains("v[i] = (sbyte)((((block + 2)[i % 16] >> (4 * (i / 16))) & 15) + -8);", q40);
        Assert.DoesNotContain("DecodeIntegers", GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.Q5_1Kernels.g.cs"));
    }

    [Theory]
    [InlineData("Q4_0", "Q8_0")]
    [InlineData("Q5_1", "Q8_1")]
    [InlineData("MXFP4", "Q8_0")]
    [InlineData("Q8_0", "Q8_0")]
    public unsafe void Every_width_computes_what_the_reference_does(string type, string activation)
    {
        var assembly = CompileAndLoad(Sample);
        var kernels = assembly.GetType($"QuantPS.Kernels.Generated.{type}Kernels")!;
        var activationKernels = assembly.GetType($"QuantPS.Kernels.Generated.{activation}Kernels")!;
        var blocks = 5;
        var count = 32L * blocks;
        var random = new Random(7);

        // Random bytes are valid blocks once their scales are finite.
        var typeSize = (int)kernels.GetField("TypeSize")!.GetValue(null)!;
        var row = new byte[typeSize * blocks];
        random.NextBytes(row);
        for (var b = 0; b < blocks; b++)
        {
            row[b * typeSize] = 0x3C;
            row[(b * typeSize) + 1] = (byte)(type == "MXFP4" ? row[(b * typeSize) + 1] : 0x38);
            if (type == "Q5_1")
            {
                row[(b * typeSize) + 3] = 0x38;
            }
        }

        var floats = Enumerable.Range(0, (int)count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var act = new byte[(int)activationKernels.GetField("TypeSize")!.GetValue(null)! * blocks];
        fixed (float* source = floats)
        fixed (byte* destination = act)
        {
            Invoke(activationKernels, "QuantizeRowScalar", (nint)source, (nint)destination, count);
        }

        var reference = Dequantize(kernels, "DequantizeReferenceRow", row, count);
        var scalarDot = Dot(kernels, "DotScalar", row, act, count);
        foreach (var width in Widths)
        {
            Assert.Equal(reference, Dequantize(kernels, "DequantizeRow" + width, row, count));
            Assert.Equal(scalarDot, Dot(kernels, "Dot" + width, row, act, count), 1e-3f);
        }
    }

    [Fact]
    public void K_quants_rebuild_values_from_sub_scales_and_interleaved_runs()
    {
        var (result, output) = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(GeneratorHarness.RealFormatTrees));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(GeneratorHarness.Errors(output));

        // The reference reads the description: sub-scale j (ggml's get_scale_min_k4 packing), Interleaved32 nibbles.
        var q4k = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.Q4_KKernels.g.cs");
        Assert.Contains("float dl = d * SubScale(block + 4, j);", q4k);
        Assert.Contains("float ml = dmin * SubMin(block + 4, j);", q4k);
        Assert.Contains("int q = (((block + 16)[(i / 64) * 32 + i % 32] >> (4 * ((i % 64) / 32))) & 15);", q4k);
        Assert.Contains("y[i] = dl * q - ml;", q4k);
        Assert.Contains("private static int SubScale(byte* scales, int j) => (j < 4 ? scales[j] & 63 : (scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4));", q4k);

        // The dot: unsigned weights times int8 activations times the sub-scale (pmaddubsw, pmaddwd), per-block
        // constants loaded before the loop, the mins through Q8_K's per-16 sums; 512 bits run the 256-bit loop.
        Assert.Contains("var hot0 = Vector256.Load(DotConstants);", q4k);
        Assert.Contains("var p0 = Simd.DotScaled(u0, y0, Simd.Lookup16(scaleTable, hot1).AsInt16());", q4k);
        Assert.Contains("var msum = Simd.MultiplyAddPairs(bs, Simd.Lookup16(scaleTable, ", q4k);
        Assert.Contains("minAcc = Simd.MultiplyAdd(Vector256.ConvertToSingle(msum), Vector256.Create(Simd.ReadHalf(blk + 2) * Unsafe.ReadUnaligned<float>(act)), minAcc);", q4k);
        Assert.Contains("(the 512-bit member runs the 256-bit loop)", q4k);

        // 512-bit dequantize: the low and high nibbles of one 32-byte run side by side.
        Assert.Contains("var j0 = Simd.Join(m0, Vector256.ShiftRightLogical(m0.AsUInt16(), 4).AsByte());", q4k);

        // Offsets enter through the sums: Q6_K's q - 32 and Q3_K's q - 4, and Q3_K's scale offset applied in bytes.
        var q6k = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.Q6_KKernels.g.cs");
        Assert.Contains("y[i] = dl * (q - 32);", q6k);
        Assert.Contains("isum -= Vector256.ShiftLeft(corr, 5);", q6k);
        var q3k = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.Q3_KKernels.g.cs");
        Assert.Contains("var scaleSigned = (k3.AsSByte() + Vector128.Create((sbyte)-32));", q3k);
        Assert.Contains("isum -= Vector256.ShiftLeft(corr, 2);", q3k);
        Assert.Contains("(((scales[j % 8] >> (4 * (j / 8))) & 15) | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;", q3k);
    }

    [Fact]
    public void Ternary_super_blocks_decode_interleaved_runs_and_take_the_offset_from_the_sums()
    {
        var (result, output) = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(GeneratorHarness.RealFormatTrees));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(GeneratorHarness.Errors(output));

        // TQ2_0: one F16 scale, 2-bit quants in Interleaved32 runs, x = d * (q - 1).
        var tq2 = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.TQ2_0Kernels.g.cs");
        Assert.Contains("(Ternary family; dot product with Q8_K)", tq2);
        Assert.Contains("int q = (((block)[(i / 128) * 32 + i % 32] >> (2 * ((i % 128) / 32))) & 3);", tq2);
        Assert.Contains("y[i] = (q - 1) * d;", tq2);

        // The dot: unsigned quants times int8 activations, then Offset times Q8_K's per-16 sums.
        Assert.Contains("var p0 = Simd.DotU8(u0, y0);", tq2);
        Assert.Contains("var corr = Simd.MultiplyAddPairs(Vector256.Load((short*)(act + 260)), Vector256.Create((short)1));", tq2);
        Assert.Contains("isum -= corr.ToVector512();", tq2);
        Assert.Contains("var j0 = Simd.Join(m0, Vector256.ShiftRightLogical(m0.AsUInt16(), 2).AsByte());", tq2);
    }

    [Fact]
    public void Sub_byte_blocks_spread_packed_bits_over_chunks_of_32()
    {
        var (result, output) = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(GeneratorHarness.RealFormatTrees));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(GeneratorHarness.Errors(output));

        // Q1_0: a 2-entry codebook (bit set is +d), the bits expanded to bytes; the codebook padded to 16 entries.
        var q1 = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.Q1_0Kernels.g.cs");
        Assert.Contains("(SubByte family; dot product with Q8_0)", q1);
        Assert.Contains("y[i] = d * CodebookTable[q];", q1);
        Assert.Contains("Vector128.Create((sbyte)-1, (sbyte)1, (sbyte)0,", q1);
        Assert.Contains("var w0 = Simd.Lookup16(Simd.BroadcastV256(Codebook), (Simd.ExpandBits(Unsafe.ReadUnaligned<uint>(blk + 2)) & Vector256.Create((byte)1)));", q1);
        Assert.Contains("acc = Simd.MultiplyAdd(Vector256.ConvertToSingle(Simd.DotI8(w1, y1)), Vector256.Create(d * Simd.ReadHalf(act + 34)), acc);", q1);

        // Q2_0: x = d * (q - 1), four values to a byte spread by a byte shuffle and per-position shifts.
        var q2 = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.Q2_0Kernels.g.cs");
        Assert.Contains("y[i] = (q - 1) * d;", q2);
        Assert.Contains("Vector256.ShiftRightLogical(w0s.AsUInt16(), 6).AsByte() & Vector256.Create(0x03000000u).AsByte()", q2);
        Assert.Contains("var w0 = Simd.Join(w0a, w0b);", q2);
    }

    [Fact]
    public void Sub_scaled_codebook_blocks_look_up_nibbles_and_scale_per_sub_block()
    {
        var (result, output) = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(GeneratorHarness.RealFormatTrees));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(GeneratorHarness.Errors(output));

        // IQ4_XS: 6-bit scales split into a high word and low nibbles, offset -32; nibbles in runs of 32 values.
        var iq4xs = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.IQ4_XSKernels.g.cs");
        Assert.Contains("(SubScaledCodebook family; dot product with Q8_K)", iq4xs);
        Assert.Contains("private static int SubScale(byte* scales, int j) => (((scales[2 + j / 2] >> (4 * (j % 2))) & 15) | (((Unsafe.ReadUnaligned<ushort>(scales) >> (2 * j)) & 3) << 4)) - 32;", iq4xs);
        Assert.Contains("int q = (((block + 8)[(i / 32) * 16 + i % 16] >> (4 * ((i % 32) / 16))) & 15);", iq4xs);
        Assert.Contains("y[i] = dl * CodebookTable[q];", iq4xs);
        // The dots unpack all eight scales at once (byte j = scale j + 32) and spread one per vector into pmaddwd.
        Assert.Contains("private static ulong SubScaleBytes(byte* scales)", iq4xs);
        Assert.Contains("var st = Vector256.Create(SubScaleBytes(blk + 2)).AsSByte();", iq4xs);
        Assert.Contains("var sc0 = Simd.Lookup16(st, Vector256.Create(0x8000800080008000UL).AsByte()).AsInt16() - Vector256.Create((short)32);", iq4xs);
        Assert.Contains("var p0 = Simd.DotI8Scaled(w0, y0, sc0);", iq4xs);
        // Its Dot4 decodes each super-block once for the four activation rows.
        Assert.Contains("public static void Dot4V512(long count, byte* weights, byte* activations, long activationStride, float* results)", iq4xs);
        Assert.DoesNotContain("results[r] = DotV512(count, weights, activations + r * activationStride);", iq4xs);
        // Its 512-bit dots take two sub-blocks per vector: magnitudes from the sorted codebook, the sign from the index
        // (below 8 is negative) as a masked negation of the activations, the int32 sums folded to the 256-bit lanes.
        Assert.Contains("private static readonly Vector128<sbyte> CodebookMagnitudes = Vector128.Create((sbyte)127, (sbyte)104,", iq4xs);
        Assert.Contains("var i0 = nibbles.Split(Vector256.Load(blk + 8));", iq4xs);
        Assert.Contains("var negatives = Vector512.Create((byte)8);", iq4xs);
        Assert.Contains("var p0 = Simd.DotScaled(w0, Simd.NegateWhere(y0, Vector512.LessThan(i0, negatives)), sc0);", iq4xs);
        Assert.Contains("var isum8 = isum.GetLower() + isum.GetUpper();", iq4xs);
        Assert.DoesNotContain("(the 512-bit member runs the 256-bit loop)", iq4xs);
    }

    [Fact]
    public void Microscaled_blocks_scale_each_sub_block_by_its_ue4m3_byte()
    {
        var (result, output) = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(GeneratorHarness.RealFormatTrees));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(GeneratorHarness.Errors(output));

        // NVFP4: no block scale, one UE4M3 scale per 16 values with E2M1's 0.5 folded in, nibbles split per 16 values.
        var nvfp4 = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.NVFP4Kernels.g.cs");
        Assert.Contains("(Microscaled family; dot product with Q8_0)", nvfp4);
        Assert.Contains("float dl = global::QuantPS.Kernels.FloatConversions.UE4M3ToSingle((block)[j]) * 0.5f;", nvfp4);
        Assert.Contains("int q = (((block + 4)[(i / 16) * 8 + i % 8] >> (4 * ((i % 16) / 8))) & 15);", nvfp4);
        Assert.Contains("y[i] = dl * CodebookTable[q];", nvfp4);
        Assert.Contains("acc = Simd.MultiplyAdd(Vector256.ConvertToSingle(Simd.DotI8(w0, y0)), Vector256.Create(Vector128.Create(s0), Vector128.Create(s1)), acc);", nvfp4);
        Assert.DoesNotContain("SubScale(byte* scales", nvfp4);
    }

    [Fact]
    public void Trit_blocks_read_base_3_digits_in_ggml_run_order()
    {
        var (result, output) = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(GeneratorHarness.RealFormatTrees));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(GeneratorHarness.Errors(output));

        // TQ1_0: 48 bytes of five trits (a run of 32 bytes, then 16), 4 bytes of four; x = d * (t - 1).
        var tq1 = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.TQ1_0Kernels.g.cs");
        Assert.Contains("(Trit family; dot product with Q8_K)", tq1);
        Assert.Contains("int q = Trit(block, i);", tq1);
        Assert.Contains("y[i] = (q - 1) * d;", tq1);
        Assert.Contains("byte q = (byte)(block[32 + k % 16] * Pow3[k / 16]);", tq1);
        Assert.Contains("byte q = (byte)(block[48 + k % 4] * Pow3[k / 4]);", tq1);

        // Digits 16 bytes at a time: a byte multiply, then 0/1/2 from two unsigned compares.
        Assert.Contains("var b2d1 = (b2 * Vector128.Create((byte)3));", tq1);
        Assert.Contains("((Vector128.GreaterThan(b2d1, c85) & one) + (Vector128.GreaterThan(b2d1, c170) & one)).Store(t + 176);", tq1);
        Assert.Contains("var p0 = Simd.DotU8(Vector256.Load(t + 0), y0);", tq1);
        Assert.Contains("isum -= corr;", tq1);
    }

    [Fact]
    public void Grid_blocks_load_entries_by_index_apply_signs_and_scale_by_2s_plus_1()
    {
        var (result, output) = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(GeneratorHarness.RealFormatTrees));
        Assert.Empty(result.Diagnostics);
        Assert.Empty(GeneratorHarness.Errors(output));

        // IQ2_XXS: per 8 bytes, four index bytes, four 7-bit sign patterns through KSigns, the scale in the top nibble.
        var iq2xxs = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.IQ2_XXSKernels.g.cs");
        Assert.Contains("(Grid family; dot product with Q8_K)", iq2xxs);
        Assert.Contains("float dl = d * (2 * Bits(block, 76 + (i / 32) * 64, 4) + 1) * 0.125f;", iq2xxs);
        Assert.Contains("y[i] = dl * (((SignMasks[Bits(block, 48 + ((i / 8) / 4) * 64 + ((i / 8) % 4) * 7, 7)] >> (i % 8)) & 1) != 0 ? -g : g);", iq2xxs);
        Assert.Contains("ulong w0e0 = Unsafe.ReadUnaligned<ulong>(GridTable + ((blk + 2)[0]) * 8);", iq2xxs);
        Assert.Contains("var p0 = Simd.DotScaled(w0.AsByte(), (y0 ^ w0m) - w0m, Vector256.Create((short)s0));", iq2xxs);

        // IQ3_S: a 9th index bit from Qh, one sign bit per value, 4 values per entry.
        var iq3s = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.IQ3_SKernels.g.cs");
        Assert.Contains("uint w0e0 = Unsafe.ReadUnaligned<uint>(GridTable + ((blk + 2)[0] | (((blk + 66)[0] & 1) << 8)) * 4);", iq3s);
        Assert.Contains("var w0m = Simd.ExpandBits(Unsafe.ReadUnaligned<uint>(blk + 74)).AsSByte();", iq3s);

        // IQ1_M: the F16 scale from four nibbles, the delta folded into integer weights g * 8 ± 1.
        var iq1m = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.IQ1_MKernels.g.cs");
        Assert.Contains("float d = global::QuantPS.Kernels.FloatConversions.HalfToSingle((ushort)((((blk + 49)[0] >> 4) & 15)", iq1m.Replace("block", "blk", StringComparison.Ordinal));
        Assert.Contains("y[i] = dl * (g + (Bits(block, 259 + (i / 8) * 4, 1) != 0 ? -0.125f : 0.125f));", iq1m);
        Assert.Contains("return g * 8 + (Bits(block, 259 + (i / 8) * 4, 1) != 0 ? -1 : 1);", iq1m);
        Assert.Contains("var p0 = Simd.DotI8Scaled(w0w, y0, Vector256.Create(Vector128.Create((short)s0), Vector128.Create((short)s1)));", iq1m);
    }

    private static readonly Lazy<Assembly> RealFormats = new(() =>
    {
        var (_, output) = GeneratorHarness.Run(GeneratorHarness.CreateCompilation(GeneratorHarness.RealFormatTrees));
        return Load(output, "real-formats");
    });

    private static unsafe float[] Dequantize(Type kernels, string method, byte[] row, long count)
    {
        var output = new float[count];
        fixed (byte* source = row)
        fixed (float* destination = output)
        {
            Invoke(kernels, method, (nint)source, (nint)destination, count);
        }

        return output;
    }

    private static unsafe float Dot(Type kernels, string method, byte[] row, byte[] act, long count)
    {
        fixed (byte* weights = row)
        fixed (byte* activations = act)
        {
            return (float)Invoke(kernels, method, count, (nint)weights, (nint)activations)!;
        }
    }

    /// <summary>Calls a kernel by reflection, boxing nint arguments as the pointers its parameters declare.</summary>
    private static unsafe object? Invoke(Type kernels, string method, params object[] args)
    {
        var info = kernels.GetMethod(method)!;
        var parameters = info.GetParameters();
        var boxed = args.Select((arg, i) => arg is nint address ? Pointer.Box((void*)address, parameters[i].ParameterType) : arg).ToArray();
        return info.Invoke(null, boxed);
    }

    private static Assembly CompileAndLoad(string source) => Load(GeneratorHarness.Run(source).Output, "kernel-sample");

    private static Assembly Load(Compilation output, string name)
    {
        using var image = new MemoryStream();
        var emitted = output.Emit(image);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));
        image.Position = 0;
        return new AssemblyLoadContext(name, isCollectible: true).LoadFromStream(image);
    }
}
